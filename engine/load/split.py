"""Splitting one plan over N worker processes exactly: no load lost to rounding.

Counts (VUs, iterations, stage targets) are split as integers, larger parts
first (7 over 2 is 4 + 3). Arrival-rate schedules are not divided but dealt:
worker i takes the global iterations i, i+N, i+2N, ... so together the workers
run exactly the one schedule a single worker would. VU ids interleave the same way.
"""

from __future__ import annotations

from dataclasses import replace

from engine.load import executors as ex
from engine.load.executors import ExecutorConfig
from engine.load.run import WorkPlan
from engine.load.stages import Stage


def split_int(total: int, n: int) -> list[int]:
    q, r = divmod(total, n)
    return [q + 1 if i < r else q for i in range(n)]


def usable_workers(cfg: ExecutorConfig, wanted: int) -> int:
    """No more workers than VUs: a worker with none would only cost a process."""
    if cfg.open_model:
        return max(1, min(wanted, cfg.max_vus))
    return max(1, min(wanted, cfg.peak_vus))


def split_executor(cfg: ExecutorConfig, n: int) -> list[ExecutorConfig]:
    if n == 1:
        return [cfg]
    if cfg.executor == ex.SHARED_ITERATIONS:
        return [
            replace(cfg, vus=v, iterations=i)
            for v, i in zip(split_int(cfg.vus, n), split_int(cfg.iterations, n), strict=True)
        ]
    if cfg.executor in (ex.PER_VU_ITERATIONS, ex.CONSTANT_VUS):
        return [replace(cfg, vus=v) for v in split_int(cfg.vus, n)]
    if cfg.executor == ex.RAMPING_VUS:
        starts = split_int(cfg.start_vus, n)
        per_stage = [split_int(round(s.target), n) for s in cfg.stages]
        return [
            replace(
                cfg,
                start_vus=starts[i],
                stages=tuple(
                    Stage(s.duration, float(t[i]))
                    for s, t in zip(cfg.stages, per_stage, strict=True)
                ),
            )
            for i in range(n)
        ]
    pre = split_int(cfg.pre_allocated_vus, n)
    most = split_int(cfg.max_vus, n)
    return [
        replace(cfg, pre_allocated_vus=p, max_vus=max(m, 1)) for p, m in zip(pre, most, strict=True)
    ]


def split_plan(plan: WorkPlan, n: int) -> list[WorkPlan]:
    n = usable_workers(plan.executor, n)
    configs = split_executor(plan.executor, n)
    return [replace(plan, executor=c, offset=i, stride=n) for i, c in enumerate(configs)]
