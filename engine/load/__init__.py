"""The load engine: executors and pacing, the worker, worker pools, metrics, the run
model and the Controller that runs a plan and judges its thresholds."""
