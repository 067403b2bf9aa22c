"""Lanes (issue 26): a plan's scenarios split over workers, their intervals, the crew."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.load import messages as msg
from engine.load.crew import Crew
from engine.load.executors import ExecutorConfig
from engine.load.executors.config import (
    CONSTANT_ARRIVAL_RATE,
    PER_VU_ITERATIONS,
    RAMPING_VUS,
    SHARED_ITERATIONS,
)
from engine.load.executors.planned import planned_vus_max
from engine.load.metrics import Interval
from engine.load.pacing import Pacer
from engine.load.pools.process import ProcessPool
from engine.load.pools.remote import apply_start
from engine.load.run import DEFAULT_SCENARIO, ScenarioPlan, WorkPlan
from engine.load.split import number_vus, split_plan
from engine.load.stages import Stage, arrival_time
from engine.load.states import StopCause, StopReason, runs_teardown

SHARED = ExecutorConfig(executor=SHARED_ITERATIONS, vus=3, iterations=10)
PER_VU = ExecutorConfig(executor=PER_VU_ITERATIONS, vus=2, iterations=3)
RATE = ExecutorConfig(
    executor=CONSTANT_ARRIVAL_RATE, rate=7, duration=1.0, pre_allocated_vus=1, max_vus=4
)
RAMP = ExecutorConfig(executor=RAMPING_VUS, start_vus=0, stages=(Stage(1.0, 5),))


def work(*lanes: tuple[str, ExecutorConfig]) -> WorkPlan:
    return WorkPlan(
        base_url="http://127.0.0.1:9",
        scenarios=tuple(ScenarioPlan(name, cfg) for name, cfg in lanes),
    )


THREE = work(("a", SHARED), ("b", PER_VU), ("c", RATE))


def parts_of(plans: list[WorkPlan], name: str) -> list[ScenarioPlan]:
    return [lane for p in plans for lane in p.scenarios if lane.name == name]


def test_the_one_default_lane_splits_as_before() -> None:
    plan = work((DEFAULT_SCENARIO, replace(SHARED, vus=7)))
    plans = split_plan(plan, 2)
    assert [p.only.executor.vus for p in plans] == [4, 3]
    assert [(p.only.offset, p.only.stride, p.only.vu_base) for p in plans] == [(0, 2, 0), (1, 2, 0)]
    assert split_plan(work((DEFAULT_SCENARIO, replace(SHARED, vus=1))), 4) == [
        work((DEFAULT_SCENARIO, replace(SHARED, vus=1)))
    ]


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_each_scenario_splits_on_its_own_and_its_counts_add_up(n: int) -> None:
    plans = split_plan(THREE, n)
    assert len(plans) == n  # every worker has a part of something
    a, b, c = (parts_of(plans, name) for name in "abc")
    assert sum(p.executor.iterations for p in a) == 10
    assert sum(p.executor.vus for p in a) == 3
    assert sum(p.executor.vus for p in b) == 2
    assert all(p.executor.iterations == 3 for p in b)  # per VU: each part's VUs do 3
    assert sum(p.executor.max_vus for p in c) == 4
    for parts in (a, b, c):
        assert sorted((p.offset, p.stride) for p in parts) == [
            (i, len(parts)) for i in range(len(parts))
        ]
    # The arrival schedule is dealt, never divided: together the parts run it exactly.
    times = []
    for p in c:
        pacer = Pacer(7, (Stage(1.0, 7),), 1.0, offset=p.offset, stride=p.stride)
        k = 0
        while (t := pacer.due(k)) is not None:
            times.append(t)
            k += 1
    assert sorted(times) == [arrival_time(7, (Stage(1.0, 7),), k, 1.0) for k in range(8)]


def test_small_scenarios_spread_over_the_workers() -> None:
    """One VU each: three scenarios over three workers go one to a worker."""
    one = replace(PER_VU, vus=1)
    plans = split_plan(work(("a", one), ("b", one), ("c", one)), 3)
    assert [[lane.name for lane in p.scenarios] for p in plans] == [["a"], ["b"], ["c"]]
    # The rotation goes on where the last scenario's parts ended.
    plans = split_plan(work(("a", replace(one, vus=2)), ("b", one), ("c", one)), 3)
    assert [[lane.name for lane in p.scenarios] for p in plans] == [["a", "c"], ["a"], ["b"]]


@pytest.mark.parametrize("n", [1, 2, 3])
def test_vu_ids_are_test_wide_and_never_repeat(n: int) -> None:
    plans = split_plan(work(("a", SHARED), ("b", PER_VU), ("r", RAMP)), n)
    ids = [
        lane.vu_base + i * lane.stride + lane.offset + 1
        for p in plans
        for lane in p.scenarios
        for i in range(lane.executor.peak_vus)
    ]
    assert sorted(ids) == list(range(1, 3 + 2 + 5 + 1))
    assert [lane.vu_base for lane in number_vus(THREE).scenarios] == [0, 3, 5]


def _interval(start: float, end: float, iterations: int, vus: int) -> Interval:
    return Interval(start, end, iterations=iterations, vus=vus, vus_max=vus, target=vus)


def test_lanes_add_by_name_and_flatten_to_their_total() -> None:
    one = Interval(0.0, 1.0, lanes={"a": _interval(0, 1, 5, 2), "b": _interval(0, 1, 1, 1)})
    two = Interval(0.0, 1.1, lanes={"a": _interval(0, 1.1, 3, 1), "c": _interval(0.5, 1, 2, 4)})
    one.add(two)
    assert {name: lane.iterations for name, lane in one.lanes.items()} == {"a": 8, "b": 1, "c": 2}
    assert one.iterations == 0  # the top level waits for flatten: never counted twice
    total = one.flatten()
    assert (total.iterations, total.vus, total.start, total.end) == (11, 8, 0.0, 1.1)
    assert total.lanes is one.lanes
    assert total.flatten().iterations == 11  # flattening again changes nothing
    plain = _interval(0, 1, 5, 2)
    assert plain.flatten() is plain


def test_lanes_travel_encoded_and_a_plain_interval_as_it_always_did() -> None:
    iv = Interval(0.0, 1.0, lanes={"a": _interval(0, 1, 5, 2), "(setup)": _interval(0, 1, 0, 1)})
    data = iv.encode()
    assert set(data) == {"start", "end", "lanes"}
    back = Interval.decode(data)
    assert {n: (lane.iterations, lane.vus) for n, lane in back.lanes.items()} == {
        "a": (5, 2),
        "(setup)": (0, 1),
    }
    plain = _interval(0, 1, 5, 2).encode()
    assert "lanes" not in plain
    assert Interval.decode(plain).lanes == {}


def test_a_crew_of_the_default_lane_hands_over_its_workers_intervals() -> None:
    crew = Crew(work((DEFAULT_SCENARIO, SHARED)))
    iv = crew.harvest()
    assert iv.lanes == {}
    crew = Crew(work(("default", SHARED), ("b", PER_VU)))
    assert set(crew.harvest().lanes) == {"default", "b"}


def test_crew_commands_go_to_one_scenario_or_to_all() -> None:
    crew = Crew(THREE)
    crew.pause("b")
    assert [w.paused for w in crew.lanes()] == [False, True, False]
    assert not crew.paused
    crew.set_scale(2.0, "c")
    assert [w.scale for w in crew.lanes()] == [1.0, 1.0, 2.0]
    assert crew.scale == 1.0
    crew.pause("nosuch")  # a scenario this process runs no part of: nothing to do
    crew.resume()
    assert not any(w.paused for w in crew.lanes())
    crew.set_scale(0.5)
    assert [w.scale for w in crew.lanes()] == [0.5, 0.5, 0.5]
    assert crew.scale == 0.5


def _cfg(executor: str, **kw: object) -> ExecutorConfig:
    return ExecutorConfig(executor=executor, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("scenarios", "want"),
    [
        # probe.js (k6 1.1): 1 arrival-rate VU 0-2 s (no gracefulStop), then 2 VUs from 3 s.
        (
            [
                (0.0, _cfg(CONSTANT_ARRIVAL_RATE, rate=20, duration=2.0, pre_allocated_vus=1,
                           max_vus=1, graceful_stop=0.0)),
                (3.0, _cfg(PER_VU_ITERATIONS, vus=2, iterations=3, graceful_stop=0.0)),
            ],
            2,
        ),
        # probe2.js: 1 per-VU VU (its window: maxDuration + 30 s) and 3 VUs from 1 s.
        ([(0.0, _cfg(PER_VU_ITERATIONS, vus=1, iterations=2)),
          (1.0, _cfg("constant-vus", vus=3, duration=1.0))], 4),
        # A window ends where the next begins: never both.
        ([(0.0, _cfg("constant-vus", vus=5, duration=1.0, graceful_stop=1.0)),
          (2.0, _cfg("constant-vus", vus=3, duration=1.0))], 5),
        ([(0.0, _cfg("constant-vus", vus=5, duration=1.0, graceful_stop=1.5)),
          (2.0, _cfg("constant-vus", vus=3, duration=1.0))], 8),
        # shared-iterations plans no more VUs than iterations.
        ([(0.0, _cfg(SHARED_ITERATIONS, vus=10, iterations=4))], 4),
        # A ramp down keeps its VUs gracefulRampDown long (within its gracefulStop): the
        # 10 of 1 s still at 2.5 s.
        ([(0.0, _cfg(RAMPING_VUS, start_vus=0, graceful_ramp_down=2.0, graceful_stop=1.0,
                     stages=(Stage(1.0, 10), Stage(1.0, 0)))),
          (2.5, _cfg("constant-vus", vus=2, duration=1.0))], 12),
        ([(0.0, _cfg(RAMPING_VUS, start_vus=0, graceful_ramp_down=0.0, graceful_stop=0.0,
                     stages=(Stage(1.0, 10), Stage(1.0, 0)))),
          (2.5, _cfg("constant-vus", vus=2, duration=1.0))], 10),
        # Ramping down from 10 to 0 over 4 s: at 3 s (2.5 planned, 5 a second before).
        ([(0.0, _cfg(RAMPING_VUS, start_vus=10, graceful_ramp_down=1.0, graceful_stop=0.0,
                     stages=(Stage(4.0, 0),))),
          (3.0, _cfg("constant-vus", vus=1, duration=1.0))], 10),
    ],
)  # fmt: skip
def test_planned_vus_max_is_k6s(scenarios: list[tuple[float, ExecutorConfig]], want: int) -> None:
    assert planned_vus_max(scenarios) == want


@pytest.mark.parametrize(
    ("kind", "runs"),
    [
        (None, True),
        (StopReason.DURATION, True),
        (StopReason.USER_STOP, True),
        (StopReason.INTERRUPTED, True),  # one Ctrl+C: k6 still tears down
        (StopReason.THRESHOLD, True),
        (StopReason.INTERRUPTED_TWICE, False),  # a second skips it
        (StopReason.USER_ABORT, False),
        (StopReason.SETUP_FAILED, False),
    ],
)
def test_teardown_runs_unless_aborted_by_hand(kind: StopReason | None, runs: bool) -> None:
    assert runs_teardown(None if kind is None else StopCause(kind)) is runs


def test_setup_failed_reads_back_from_its_words() -> None:
    cause = StopCause(StopReason.SETUP_FAILED, "timed out after 0.3s")
    assert str(cause) == "setup failed: timed out after 0.3s"
    assert StopCause.parse(str(cause)) == cause


def test_commands_given_before_the_start_reach_each_lane_with_it() -> None:
    """A worker process spawning gets one scenario's pause and scale in its Start."""
    pool = ProcessPool(THREE, 2)
    pool.pause("a")
    pool.set_scale(2.0, "b")
    pool.pause("c")
    pool.resume("c")
    pool.setup_values = (("setup.token", "t0k"),)
    start = pool.start_message()
    assert start.lanes == (msg.Pause("a"), msg.Scale(2.0, "b"))
    crew = Crew(THREE)
    apply_start(crew, start)
    assert [(w.paused, w.scale) for w in crew.lanes()] == [(True, 1.0), (False, 2.0), (False, 1.0)]
    assert crew.lanes()[0].setup_values == {"setup.token": "t0k"}
    pool.set_scale(0.5)  # every lane's: the one scenario's is gone
    pool.resume()
    assert pool.start_message().lanes == ()
    assert pool.start_message().scale == 0.5
