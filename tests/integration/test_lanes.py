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
from engine.load.flow import Capture, Flow, Step, Template
from engine.load.metrics import Interval
from engine.load.run import RunPlan, RunResult, Snapshot
from engine.load.states import StopReason
from engine.load.steering import Steer, SteeringEvent
from engine.load.thresholds import parse_threshold
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


def lane_requests(controller: Controller, name: str) -> int:
    lane = controller.model.total.lanes.get(name)
    return sum(b.requests for b in lane.buckets.values()) if lane is not None else 0


VUS = ExecutorConfig(executor="constant-vus", vus=1, duration=1.5, graceful_stop=0.0)
ONCE = ExecutorConfig(executor=PER_VU_ITERATIONS, vus=1, iterations=3, graceful_stop=0.0)


@pytest.mark.parametrize("workers", [1, 2])
async def test_a_scenario_starts_at_its_start_time_and_pauses_stretch_the_wait(
    shared_sut: str, workers: int
) -> None:
    """b starts 1 s in; the run is paused 0.5 s before that, so b starts at 1.5 s."""
    plan = lanes_plan(shared_sut + "/", workers, ("a", VUS, 0.0), ("b", ONCE, 1.0))
    seen: list[tuple[float, int]] = []  # (elapsed, b's requests so far) per snapshot
    paused_at: list[float] = []

    def on_snapshot(snap: Snapshot) -> None:
        seen.append((snap.elapsed, lane_requests(controller, "b")))
        if len(seen) == 1:
            controller.pause()
            paused_at.append(snap.elapsed)
        elif paused_at and len(paused_at) == 1 and snap.elapsed >= paused_at[0] + 0.5:
            controller.resume()
            paused_at.append(snap.elapsed)

    controller = Controller(plan, on_snapshot=on_snapshot)
    result = await controller.run()
    assert lane_requests(controller, "b") == 3
    waited = paused_at[1] - paused_at[0]
    first = next(t for t, n in seen if n)
    assert first >= 1.0 + waited - 0.05, (seen, paused_at)
    assert all(n == 0 for t, n in seen if t < 1.0 + waited - 0.05)
    # Each lane ends on its own; the run ends when the last one has. The pause and the
    # resume reach the workers as messages, each some ms after the snapshot that sent it:
    # the pause a busy machine delivers late is shorter there (without it: ~1.5 s).
    assert result.duration >= 1.5 + waited - 0.15
    assert not result.aborted


async def test_one_scenario_is_paused_and_scaled_on_its_own(shared_sut: str) -> None:
    rate = replace(RATE, duration=2.0, graceful_stop=0.0)
    plan = lanes_plan(shared_sut + "/", 1, ("r", rate, 0.0), ("v", replace(VUS, duration=2.0), 0.0))
    marks: list[tuple[int, int]] = []  # (r's, v's requests) at the pause and the resume

    def on_snapshot(snap: Snapshot) -> None:
        n = len(controller.model.timeline)
        if n == 1:
            controller.pause("r")
            marks.append((lane_requests(controller, "r"), lane_requests(controller, "v")))
        elif n == 3:
            marks.append((lane_requests(controller, "r"), lane_requests(controller, "v")))
            controller.resume("r")
            controller.set_scale(0.5, "r")

    controller = Controller(plan, on_snapshot=on_snapshot)
    with pytest.raises(ValueError, match="one of r, v"):
        controller.set_target(10.0)  # VUs and rates do not add: name one
    result = await controller.run()
    (r0, v0), (r1, v1) = marks
    assert r1 - r0 <= 1 and v1 > v0  # r waited while v went on
    events = [(e.what, e.scenario) for e in result.steering]
    assert events == [(Steer.PAUSE, "r"), (Steer.RESUME, "r"), (Steer.TARGET, "r")]
    target = result.steering[-1]
    assert (target.from_, target.to) == (20.0, 10.0)
    assert result.steering[0].as_table()["scenario"] == "r"
    assert SteeringEvent.of_table(result.steering[0].as_table()).scenario == "r"


@pytest.mark.parametrize("workers", [1, 3])
async def test_vus_max_is_the_planned_vus_of_the_windows_that_overlap(
    shared_sut: str, workers: int
) -> None:
    """k6's vus_max: 2 VUs and an arrival rate's 1 for 0.5 s, then 3 from 1 s: 3 (never
    6), whatever VUs the rate's parts on 3 workers start (one each: the split's)."""
    two = ExecutorConfig(executor="constant-vus", vus=2, duration=0.5, graceful_stop=0.0)
    three = ExecutorConfig(executor="constant-vus", vus=3, duration=0.5, graceful_stop=0.0)
    rate = replace(RATE, rate=6, duration=0.5, pre_allocated_vus=1, max_vus=6, graceful_stop=0)
    lanes = ("a", two, 0.0), ("b", three, 1.0), ("r", rate, 0.0)
    result = await Controller(lanes_plan(shared_sut + "/", workers, *lanes)).run()
    assert {row.vus_max for row in result.model.timeline} == {3}
    assert max(row.vus for row in result.model.timeline) <= 3 + 1


LOGIN = Step(
    "login",
    "POST",
    Template.compile("/api/login"),
    headers=(("content-type", Template.compile("application/json")),),
    body=Template.compile('{"username": "ann", "password": "secret"}'),
    captures=(Capture("token", "json", "token"),),
)
WRONG = '{"username": "ann", "password": "wrong"}'  # the demo server's 401
BEARER = (("authorization", Template.compile("Bearer ${setup.token}")),)
ITEMS = Flow("items", (Step("items", "GET", Template.compile("/api/items"), headers=BEARER),))
LOGOUT = Flow("out", (Step("logout", "POST", Template.compile("/api/logout"), headers=BEARER),))


def with_setup(plan: RunPlan, setup: Flow, **kw: object) -> RunPlan:
    """`plan` with setup() `setup`, teardown() logging out, each scenario running ITEMS."""
    # A flow's lane has no requests of its own, as [flows.NAME] builds it.
    lanes = tuple(
        replace(lane, flow=ITEMS, requests=(), weights=(), checks=())
        for lane in plan.work.scenarios
    )
    work = replace(plan.work, scenarios=lanes, setup=setup, teardown=LOGOUT, **kw)
    return replace(plan, work=work)


def figures(result: RunResult, name: str) -> tuple[int, int, dict[int, int]]:
    """A lane's (iterations, requests, statuses)."""
    lane = result.model.total.lanes[name]
    status: dict[int, int] = {}
    for b in lane.buckets.values():
        for code, n in b.status.items():
            status[code] = status.get(code, 0) + n
    return lane.iterations, sum(b.requests for b in lane.buckets.values()), status


async def test_setup_values_reach_every_workers_vus_and_teardown_runs_last(
    shared_sut: str,
) -> None:
    """A token from setup() in each of 3 workers' VUs: /api/items answers 200 only with
    it; teardown logs it out after the last scenario. Neither counts an iteration."""
    shared = ExecutorConfig(executor=SHARED_ITERATIONS, vus=2, iterations=4)
    plan = lanes_plan(
        shared_sut, 3, ("a", replace(PER_VU, vus=3, iterations=2), 0.0), ("b", shared, 0.0)
    )
    result = await Controller(with_setup(plan, Flow("in", (LOGIN,)))).run()
    assert figures(result, "(setup)") == (0, 1, {200: 1})
    assert figures(result, "a") == (6, 6, {200: 6})
    assert figures(result, "b") == (4, 4, {200: 4})
    assert figures(result, "(teardown)") == (0, 1, {200: 1})
    assert result.model.total.iterations == 10
    assert result.model.figures().requests == 12
    assert result.exit_code == 0 and result.stop_reason is None


@pytest.mark.parametrize(
    ("setup", "timeout", "why"),
    [
        (
            Flow(
                "in",
                (replace(LOGIN, body=Template.compile('{"username": "a", "password": "wrong"}')),),
            ),
            60.0,
            "setup failed: no value for ${setup.token}",
        ),
        (
            Flow("in", (Step("slow", "GET", Template.compile("/delay/2000")), LOGIN)),
            0.3,
            "setup failed: timed out after 0.3s",
        ),
    ],
)
@pytest.mark.parametrize("workers", [1, 2])
async def test_a_failed_setup_ends_the_run_before_any_scenario(
    shared_sut: str, setup: Flow, timeout: float, why: str, workers: int
) -> None:
    """The workers spawned meanwhile start stopped: none of their scenarios runs."""
    plan = lanes_plan(shared_sut, workers, ("a", PER_VU, 0.0))
    plan = with_setup(plan, setup, setup_timeout=timeout)
    result = await Controller(plan).run()
    assert str(result.stop_reason) == why
    assert result.aborted and result.exit_code == 1
    assert set(result.model.total.lanes) <= {"(setup)", "a"}
    assert "(teardown)" not in result.model.total.lanes
    assert result.model.total.iterations == 0
    assert result.model.figures().requests == (1 if timeout > 1 else 0)


async def test_teardown_runs_after_a_threshold_abort(shared_sut: str) -> None:
    vus = ExecutorConfig(executor="constant-vus", vus=1, duration=20.0, graceful_stop=0.0)
    plan = with_setup(lanes_plan(shared_sut, 1, ("a", vus, 0.0)), Flow("in", (LOGIN,)))
    plan = replace(plan, thresholds=(parse_threshold("http_reqs", "count<3", abort_on_fail=True),))
    result = await Controller(plan).run()
    assert result.stop_reason is not None and result.stop_reason.kind is StopReason.THRESHOLD
    assert result.duration < 10
    assert figures(result, "(teardown)") == (0, 1, {200: 1})  # the token was still valid


def test_an_interval_no_worker_answered_in_time_keeps_the_planned_vus_max() -> None:
    """Under load a harvest can come back empty (every worker past its timeout): the
    interval's vus_max is still k6's planned one, never 0 (it was, on a busy machine)."""
    two = ExecutorConfig(executor="constant-vus", vus=2, duration=0.5, graceful_stop=0.0)
    three = ExecutorConfig(executor="constant-vus", vus=3, duration=0.5, graceful_stop=0.0)
    plan = lanes_plan("http://127.0.0.1:9/", 1, ("a", two, 0.0), ("b", three, 0.0))
    controller = Controller(plan)
    assert controller._total(Interval(0.0, 0.25)).vus_max == 5
