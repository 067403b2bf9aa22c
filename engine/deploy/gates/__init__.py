"""A rollout's metrics and hooks (issue 31): numbers from Prometheus or a JSON URL
judged per window as Argo Rollouts judges them, and hooks as Flagger runs them.

spec.py (the profile's values), conditions.py (`result < 0.01`), providers.py
(Prometheus, web), metrics.py (measuring and judging), hooks.py (commands, webhooks),
rollout.py (all of it behind the driver's narrow face).
"""
