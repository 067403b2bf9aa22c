"""Splitting one plan over N worker processes exactly: no load lost to rounding.

Each scenario is split on its own, into as many parts as it has VUs to give (at most
N). Counts (VUs, iterations, stage targets) are split as integers, larger parts
first (7 over 2 is 4 + 3). Arrival-rate schedules are not divided but dealt:
part i of n takes the global iterations i, i+n, i+2n, ... so together the parts
run exactly the one schedule a single worker would (k6's striped execution
segments). VU ids interleave the same way. A scenario's parts go to the workers
after the previous scenario's, so small scenarios spread over the workers.
"""

from __future__ import annotations

from dataclasses import replace

from engine.load.executors import ExecutorConfig
from engine.load.run import ScenarioPlan, WorkPlan


def usable_workers(cfg: ExecutorConfig, wanted: int) -> int:
    """No more workers than VUs: a worker with none would only cost a process."""
    if cfg.open_model:
        return max(1, min(wanted, cfg.max_vus))
    return max(1, min(wanted, cfg.peak_vus))


def split_executor(cfg: ExecutorConfig, n: int) -> list[ExecutorConfig]:
    return [cfg] if n == 1 else cfg.kind.split(cfg, n)


def number_vus(plan: WorkPlan) -> WorkPlan:
    """Test-wide VU ids: each scenario's after the previous one's most VUs (`vu_base`)."""
    if len(plan.scenarios) == 1:
        return plan
    lanes, base = [], 0
    for lane in plan.scenarios:
        lanes.append(replace(lane, vu_base=base))
        base += lane.executor.peak_vus
    return replace(plan, scenarios=tuple(lanes))


def split_lane(lane: ScenarioPlan, n: int) -> list[ScenarioPlan]:
    """One scenario in parts, part i with offset i and stride of the parts' count."""
    n = usable_workers(lane.executor, n)
    configs = split_executor(lane.executor, n)
    return [replace(lane, executor=c, offset=i, stride=n) for i, c in enumerate(configs)]


def split_plan(plan: WorkPlan, n: int) -> list[WorkPlan]:
    """Each of the (at most `n`) workers' plans: its parts of the scenarios."""
    plan = number_vus(plan)
    shares: list[list[ScenarioPlan]] = [[] for _ in range(n)]
    first = 0
    for lane in plan.scenarios:
        parts = split_lane(lane, n)
        for j, part in enumerate(parts):
            shares[(first + j) % n].append(part)
        first = (first + len(parts)) % n
    return [replace(plan, scenarios=tuple(lanes)) for lanes in shares if lanes]
