"""Splitting one plan over N worker processes exactly: no load lost to rounding.

Counts (VUs, iterations, stage targets) are split as integers, larger parts
first (7 over 2 is 4 + 3). Arrival-rate schedules are not divided but dealt:
worker i takes the global iterations i, i+N, i+2N, ... so together the workers
run exactly the one schedule a single worker would. VU ids interleave the same way.
"""

from __future__ import annotations

from engine.load.executors import ExecutorConfig
from engine.load.run import WorkPlan


def usable_workers(cfg: ExecutorConfig, wanted: int) -> int:
    """No more workers than VUs: a worker with none would only cost a process."""
    if cfg.open_model:
        return max(1, min(wanted, cfg.max_vus))
    return max(1, min(wanted, cfg.peak_vus))


def split_executor(cfg: ExecutorConfig, n: int) -> list[ExecutorConfig]:
    return [cfg] if n == 1 else cfg.kind.split(cfg, n)


def split_plan(plan: WorkPlan, n: int) -> list[WorkPlan]:
    lane = plan.only
    n = usable_workers(lane.executor, n)
    configs = split_executor(lane.executor, n)
    return [plan.with_only(executor=c, offset=i, stride=n) for i, c in enumerate(configs)]
