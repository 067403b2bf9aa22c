"""Several scenarios at once (issue 26) on `surge sut`: each a lane, counted exactly
with any number of workers, started at its startTime, steered on its own."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.load.controller import Controller
from engine.load.executors import ExecutorConfig
from engine.load.executors.config import (
    CONSTANT_ARRIVAL_RATE,
    PER_VU_ITERATIONS,
    SHARED_ITERATIONS,
)
from engine.load.run import RunPlan, RunResult
from engine.profile import adhoc_profile
from engine.profile.plan import Overrides, build_plan

SHARED = ExecutorConfig(executor=SHARED_ITERATIONS, vus=3, iterations=30)
PER_VU = ExecutorConfig(executor=PER_VU_ITERATIONS, vus=2, iterations=4)
RATE = ExecutorConfig(
    executor=CONSTANT_ARRIVAL_RATE, rate=20, duration=1.0, pre_allocated_vus=2, max_vus=4
)


def lanes_plan(url: str, workers: int, *lanes: tuple[str, ExecutorConfig, float]) -> RunPlan:
    """The ad-hoc plan for `url` with these (name, executor, startTime) scenarios."""
    plan = build_plan(adhoc_profile(url), Overrides(workers=workers), interval=0.25)
    one = plan.work.only
    scenarios = tuple(
        replace(one, name=name, executor=cfg, start_time=start) for name, cfg, start in lanes
    )
    return replace(plan, work=replace(plan.work, scenarios=scenarios), in_process=workers == 1)


def counts(result: RunResult) -> dict[str, tuple[int, int, int]]:
    """Each lane's (iterations, dropped, requests) over the whole run."""
    return {
        name: (lane.iterations, lane.dropped, sum(b.requests for b in lane.buckets.values()))
        for name, lane in result.model.total.lanes.items()
    }


@pytest.mark.parametrize("workers", [1, 3])
async def test_each_scenario_is_counted_exactly_with_any_workers(
    shared_sut: str, workers: int
) -> None:
    plan = lanes_plan(
        shared_sut + "/", workers, ("a", SHARED, 0.0), ("b", PER_VU, 0.0), ("c", RATE, 0.0)
    )
    result = await Controller(plan).run()
    assert result.workers == workers
    got = counts(result)
    assert got["a"] == (30, 0, 30)
    assert got["b"] == (8, 0, 8)
    done, dropped, requests = got["c"]
    assert (done + dropped, done) == (21, requests)  # 0 s to 1 s inclusive, as k6
    # The total is the lanes' sum: what every front end reads today.
    assert result.model.total.iterations == 30 + 8 + done
    assert result.model.figures().requests == 30 + 8 + requests
    assert not result.aborted and result.error is None
