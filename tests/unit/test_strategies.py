"""Deployment strategies as tables: pure state machines stepped with (now, figures)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.deploy.strategies import (
    ALL_BLUE,
    ALL_GREEN,
    Analysis,
    Canary,
    ColorFigures,
    EventKind,
    InService,
    Linear,
    Manual,
    Phase,
    Rolling,
    RollingWithAdditionalBatch,
    Switch,
    Weights,
    canary_steps,
    judge,
    linear_steps,
    rolling_plan,
)
from engine.errors import ConfigError
from engine.profile import parse_deploy

BLUE_OK = ColorFigures(requests=1000, failed=1, p99_ms=20.0)
GOOD = {"blue": BLUE_OK, "green": ColorFigures(100, 0, 22.0)}
FLAWED = {"blue": BLUE_OK, "green": ColorFigures(100, 10, 22.0)}
SLOW = {"blue": BLUE_OK, "green": ColorFigures(100, 0, 90.0)}
QUIET = {"blue": BLUE_OK, "green": ColorFigures(3, 0, 22.0)}

A = Analysis(interval=10.0, min_requests=50, min_success_rate=0.95, max_p99_ratio=2.0)


def kinds(decision: Any) -> list[EventKind]:
    return [e.kind for e in decision.events]


# --------------------------------------------------------------------------- analysis


@pytest.mark.parametrize(
    ("analysis", "figures", "outcome", "reason"),
    [
        (A, GOOD, EventKind.ANALYSIS_PASSED, "green 100 requests"),
        (A, FLAWED, EventKind.ANALYSIS_FAILED, "success rate 90.00% < 95.00%"),
        (A, SLOW, EventKind.ANALYSIS_FAILED, "p99 90.0 ms > 2x blue's 20.0 ms"),
        (A, QUIET, EventKind.ANALYSIS_INCONCLUSIVE, "green served 3 requests, need 50"),
        (A, {}, EventKind.ANALYSIS_INCONCLUSIVE, "green served 0 requests"),
        (A, None, EventKind.ANALYSIS_INCONCLUSIVE, "green served 0"),
        (
            Analysis(max_p99_ms=50, max_p99_ratio=None),
            SLOW,
            EventKind.ANALYSIS_FAILED,
            "p99 90.0 ms > 50 ms",
        ),
        # Against blue: 97% passes the fixed bound but is 2.9 points below blue's 99.9%.
        (
            Analysis(min_success_rate=0.95, max_success_drop=0.01),
            {"blue": BLUE_OK, "green": ColorFigures(100, 3, 20.0)},
            EventKind.ANALYSIS_FAILED,
            "vs blue's 99.90%",
        ),
        # Sub-millisecond loopback latencies: 3x of 0.2 ms is noise, under the 5 ms floor.
        (
            A,
            {"blue": ColorFigures(1000, 0, 0.2), "green": ColorFigures(100, 0, 0.6)},
            EventKind.ANALYSIS_PASSED,
            "",
        ),
        # With a baseline, green is judged against it, not against long-running blue:
        # slow next to a fresh blue instance (60 ms) is fine, next to blue (20 ms) is not.
        (
            A,
            {**SLOW, "baseline": ColorFigures(100, 0, 60.0)},
            EventKind.ANALYSIS_PASSED,
            "vs baseline (100 requests, p99 60.0 ms)",
        ),
        (
            A,
            {**FLAWED, "baseline": ColorFigures(100, 0, 22.0)},
            EventKind.ANALYSIS_FAILED,
            "success rate 90.00% < 95.00%",
        ),
        (
            A,
            {"blue": ColorFigures(100, 0, 5.0), "green": GOOD["green"], "baseline": BLUE_OK},
            EventKind.ANALYSIS_PASSED,
            "vs baseline",
        ),
        (
            A,
            {**SLOW, "baseline": ColorFigures(100, 0, 20.0)},
            EventKind.ANALYSIS_FAILED,
            "p99 90.0 ms > 2x baseline's 20.0 ms",
        ),
        (
            A,
            {**GOOD, "baseline": ColorFigures(2, 0, 1.0)},
            EventKind.ANALYSIS_PASSED,
            "baseline too quiet to compare",
        ),
        # Blue too quiet to compare (e.g. a smoke run at 100% green): fixed bounds only.
        (
            A,
            {"blue": ColorFigures(2, 0, 1.0), "green": ColorFigures(100, 0, 90.0)},
            EventKind.ANALYSIS_PASSED,
            "blue too quiet to compare",
        ),
    ],
)
def test_judge(analysis: Analysis, figures: Any, outcome: EventKind, reason: str) -> None:
    verdict = judge(analysis, figures)
    assert verdict.outcome is outcome
    assert reason in verdict.reason


def test_color_figures_of_engine_figures() -> None:
    class Lat:
        p99 = 12.5

    class F:
        requests, failed, latency = 10, 2, Lat()

    f = ColorFigures.of(F())
    assert f == ColorFigures(10, 2, 12.5)
    assert f.success_rate == pytest.approx(0.8)
    assert ColorFigures().success_rate is None


# --------------------------------------------------------------------------- canary


def run(strategy: Any, script: list[tuple[float, Any]]) -> list[tuple[Weights, Phase, list]]:
    """Start at t=0, then step at each (now, figures); one row per call."""
    rows = []
    d = strategy.start(0.0)
    rows.append((d.weights, d.phase, kinds(d)))
    for now, figures in script:
        d = strategy.step(now, figures)
        rows.append((d.weights, d.phase, kinds(d)))
    return rows


S, P, F, INC, R = (
    EventKind.STEP_STARTED,
    EventKind.ANALYSIS_PASSED,
    EventKind.ANALYSIS_FAILED,
    EventKind.ANALYSIS_INCONCLUSIVE,
    EventKind.ROLLED_BACK,
)
RUN, PROMOTED, BACK = Phase.RUNNING, Phase.PROMOTED, Phase.ROLLED_BACK


def test_canary_promotes_a_good_green_through_every_step() -> None:
    rows = run(
        Canary(A, steps=[1, 5, 25, 50, 100]),
        [(5, GOOD), (10, GOOD), (20, GOOD), (30, GOOD), (40, GOOD), (50, GOOD)],
    )
    assert rows == [
        (Weights(99, 1), RUN, [S]),
        (Weights(99, 1), RUN, []),  # not due yet
        (Weights(95, 5), RUN, [P, S]),
        (Weights(75, 25), RUN, [P, S]),
        (Weights(50, 50), RUN, [P, S]),
        (ALL_GREEN, PROMOTED, [P, EventKind.PROMOTED]),
        (ALL_GREEN, PROMOTED, []),
    ]


def test_canary_rolls_back_a_flawed_green_at_the_first_failure() -> None:
    rows = run(Canary(A, step_weight=10, max_weight=30), [(10, GOOD), (20, FLAWED), (30, GOOD)])
    assert rows == [
        (Weights(90, 10), RUN, [S]),
        (Weights(80, 20), RUN, [P, S]),
        (ALL_BLUE, BACK, [F, R]),
        (ALL_BLUE, BACK, []),
    ]


def test_inconclusive_holds_without_counting_a_failure() -> None:
    canary = Canary(A, steps=[10, 50], failure_limit=1)
    rows = run(canary, [(10, QUIET), (15, GOOD), (20, QUIET), (30, GOOD), (40, GOOD)])
    assert rows == [
        (Weights(90, 10), RUN, [S]),
        (Weights(90, 10), RUN, [INC]),  # holds; a new 10 s window starts at t=10
        (Weights(90, 10), RUN, []),
        (Weights(90, 10), RUN, [INC]),
        (Weights(50, 50), RUN, [P, S]),
        (ALL_GREEN, PROMOTED, [P, EventKind.PROMOTED]),
    ]
    assert canary.failures == 0


def test_failure_limit_counts_failures_over_the_whole_rollout() -> None:
    canary = Canary(A, steps=[10, 20, 30], failure_limit=2)
    rows = run(canary, [(10, FLAWED), (20, GOOD), (30, SLOW)])
    assert rows == [
        (Weights(90, 10), RUN, [S]),
        (Weights(90, 10), RUN, [F]),  # 1 of 2: hold the step, judge again
        (Weights(80, 20), RUN, [P, S]),
        (ALL_BLUE, BACK, [F, R]),  # 2 of 2
    ]
    rollback = canary.rollback(31)
    assert rollback.events == () and not rollback.changed


def test_decisions_say_when_to_restart_the_analysis_window() -> None:
    canary = Canary(A, steps=[10, 20])
    assert canary.start(0).new_window
    assert not canary.step(5, GOOD).new_window
    d = canary.step(10, QUIET)
    assert d.new_window and not d.changed
    d = canary.step(20, GOOD)
    assert d.new_window and d.changed and d.weights == Weights(80, 20)
    assert canary.due == 30


def test_pause_freezes_and_resume_restarts_the_wait() -> None:
    canary = Canary(A, steps=[10, 20])
    canary.start(0)
    assert kinds(canary.pause(4)) == [EventKind.PAUSED]
    assert canary.step(50, GOOD).weights == Weights(90, 10)  # paused: nothing moves
    assert canary.due is None
    d = canary.resume(60)
    assert kinds(d) == [EventKind.RESUMED] and d.new_window
    assert canary.step(69, GOOD).weights == Weights(90, 10)
    assert canary.step(70, GOOD).weights == Weights(80, 20)
    assert canary.resume(71).events == ()  # not paused: no-op


def test_promote_and_rollback_work_at_any_time() -> None:
    canary = Canary(A, steps=[10, 20])
    canary.start(0)
    canary.pause(1)
    d = canary.promote(2)
    assert (d.weights, d.phase, kinds(d), d.changed) == (
        ALL_GREEN,
        PROMOTED,
        [EventKind.PROMOTED],
        True,
    )
    assert canary.promote(3).events == ()
    d = canary.rollback(4)  # the instant switch back, even after promotion
    assert (d.weights, d.phase) == (ALL_BLUE, BACK)
    assert canary.step(100, GOOD).weights == ALL_BLUE


@pytest.mark.parametrize(
    ("step_weight", "max_weight", "steps"),
    [(10, 50, (10, 20, 30, 40, 50)), (20, 50, (20, 40, 50)), (25, 100, (25, 50, 75, 100))],
)
def test_canary_steps(step_weight: int, max_weight: int, steps: tuple[int, ...]) -> None:
    assert canary_steps(step_weight, max_weight) == steps


@pytest.mark.parametrize("steps", [[], [5, 5], [10, 5], [0, 10], [10, 101], [1.5]])
def test_bad_canary_steps(steps: list[Any]) -> None:
    with pytest.raises(ValueError, match="steps"):
        Canary(A, steps=steps)


@given(st.lists(st.sampled_from(["good", "flawed", "quiet"]), max_size=30), st.integers(1, 3))
def test_canary_weights_only_climb_until_a_rollback(script: list[str], limit: int) -> None:
    figures = {"good": GOOD, "flawed": FLAWED, "quiet": QUIET}
    canary = Canary(A, steps=[1, 5, 25, 50], failure_limit=limit)
    last = canary.start(0).weights.green
    for i, name in enumerate(script, 1):
        d = canary.step(i * 10.0, figures[name])
        if d.phase is BACK:
            assert d.weights == ALL_BLUE and canary.failures == limit
            return
        assert d.weights.green >= last
        assert d.weights.green in (1, 5, 25, 50, 100)
        last = d.weights.green


# --------------------------------------------------------------------------- linear


def test_linear_10_percent_every_minute() -> None:
    linear = Linear(10, 60.0)
    assert linear.start(0).weights == Weights(90, 10)
    table = [(59.9, 10), (60, 20), (61, 20), (120, 30), (480, 90), (539.9, 90), (540, 100)]
    for now, green in table:
        assert linear.step(now).weights.green == green, now
    assert linear.phase is PROMOTED

    late = Linear(10, 60.0)
    late.start(0)
    d = late.step(200)  # a driver that was busy for 200 s catches up on the schedule
    assert d.weights == Weights(60, 40) and kinds(d) == [S, S, S]
    assert [e.at for e in d.events] == [60, 120, 180] and late.due == 240


def test_linear_with_analysis_rolls_back() -> None:
    linear = Linear(50, 10.0, A)
    linear.start(0)
    assert kinds(linear.step(10, FLAWED)) == [F, R]


@pytest.mark.parametrize(
    ("percent", "steps"), [(10, tuple(range(10, 101, 10))), (30, (30, 60, 90, 100)), (100, (100,))]
)
def test_linear_steps(percent: int, steps: tuple[int, ...]) -> None:
    assert linear_steps(percent) == steps


# --------------------------------------------------------------------------- switch


@pytest.mark.parametrize(
    ("script", "phase", "weights"),
    [
        ([(30, GOOD)], PROMOTED, ALL_GREEN),
        ([(30, FLAWED)], BACK, ALL_BLUE),
        ([(30, QUIET)], RUN, ALL_BLUE),
        ([(30, QUIET), (60, GOOD)], PROMOTED, ALL_GREEN),
        ([(29, GOOD)], RUN, ALL_BLUE),
    ],
)
def test_switch_after_a_smoke_run(script: list[Any], phase: Phase, weights: Weights) -> None:
    switch = Switch(Analysis(interval=30, min_requests=20))
    d = switch.start(0)
    assert d.smoke and d.weights == ALL_BLUE and kinds(d) == [EventKind.SMOKE_STARTED]
    for now, figures in script:
        d = switch.step(now, figures)
    assert (d.phase, d.weights) == (phase, weights)
    assert d.smoke == (phase is RUN)


def test_switch_without_smoke_is_instant_and_so_is_the_way_back() -> None:
    switch = Switch()
    d = switch.start(0)
    assert (d.weights, d.phase, d.changed) == (ALL_GREEN, PROMOTED, True)
    assert switch.rollback(1).weights == ALL_BLUE


# --------------------------------------------------------------------------- rolling


def _sets(plan: list[InService]) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    return [(s.blue, s.green) for s in plan]


def test_rolling_replaces_instances_in_order() -> None:
    assert _sets(rolling_plan(3, 1)) == [
        ((1, 2), ()),
        ((1, 2), (0,)),
        ((2,), (0,)),
        ((2,), (0, 1)),
        ((), (0, 1)),
        ((), (0, 1, 2)),
    ]
    assert _sets(rolling_plan(4, 2, additional=True)) == [
        ((0, 1, 2, 3), (0, 1)),
        ((2, 3), (0, 1)),
        ((2, 3), (0, 1, 2, 3)),
        ((), (0, 1, 2, 3)),
    ]
    assert _sets(rolling_plan(3, 2))[-2:] == [((), (0, 1)), ((), (0, 1, 2))]


@pytest.mark.parametrize(("k", "batch"), [(1, 1), (3, 1), (4, 2), (5, 2), (6, 6)])
def test_capacity_never_drops_with_the_additional_batch(k: int, batch: int) -> None:
    extra = rolling_plan(k, batch, additional=True)
    assert min(s.capacity for s in extra) == k
    assert max(s.capacity for s in extra) <= k + batch
    plain = rolling_plan(k, batch)
    assert min(s.capacity for s in plain) == k - batch
    for plan in (extra, plain):
        assert plan[-1] == InService((), tuple(range(k)))


def test_rolling_strategy_steps_on_time_and_weights_follow_instances() -> None:
    rolling = RollingWithAdditionalBatch(2, 1, 10.0)
    d = rolling.start(0)
    assert d.in_service == InService((0, 1), (0,)) and d.weights == Weights(67, 33)
    seen = [d.in_service]
    for now in (10, 20, 30):
        seen.append(rolling.step(now).in_service)
    assert seen == [
        InService((0, 1), (0,)),
        InService((1,), (0,)),
        InService((1,), (0, 1)),
        InService((), (0, 1)),
    ]
    assert rolling.phase is PROMOTED and rolling.weights == ALL_GREEN


def test_rolling_analysis_only_once_green_serves_and_rollback_restores_blue() -> None:
    rolling = Rolling(3, 1, 10.0, analysis=A)
    rolling.start(0)  # blue 0 out, no green yet: nothing to judge
    d = rolling.step(10, None)
    assert d.in_service == InService((1, 2), (0,)) and kinds(d) == [S]
    d = rolling.step(20, FLAWED)
    assert kinds(d) == [F, R]
    assert d.in_service == InService((0, 1, 2), ()) and d.weights == ALL_BLUE


# --------------------------------------------------------------------------- manual


def test_manual_moves_in_10_percent_steps_within_bounds() -> None:
    manual = Manual()
    assert manual.start(0).weights == ALL_BLUE
    assert manual.down(1).events == ()  # already at 0
    greens = [manual.up(t).weights.green for t in range(2, 14)]
    assert greens == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 100, 100]
    assert manual.down(14).weights == Weights(10, 90)
    assert manual.set_green(15, 44).weights == Weights(60, 40)  # a slider snaps to 10s
    assert manual.step(100, FLAWED).weights == Weights(60, 40)  # time never moves it
    assert manual.rollback(16).weights == ALL_BLUE
    assert manual.up(17).weights == ALL_BLUE  # a finished rollout is not reopened


# --------------------------------------------------------------------------- [deploy]

URLS = {"blue": ["http://127.0.0.1:8081"], "green": ["http://127.0.0.1:8082"]}


@pytest.mark.parametrize(
    ("table", "key", "message"),
    [
        ({"green": URLS["green"]}, "deploy.blue", "required"),
        ({**URLS, "blue": []}, "deploy.blue", "non-empty list"),
        ({**URLS, "blue": "ftp://x"}, "deploy.blue[0]", "http://HOST:PORT"),
        ({**URLS, "green": ["http://h:1", 5]}, "deploy.green[1]", "URL string"),
        ({**URLS, "green": ["http://h:99999"]}, "deploy.green[0]", "bad URL"),
        ({**URLS, "green": ["http://h:1/api"]}, "deploy.green[0]", "without path or query"),
        ({**URLS, "strategy": "yolo"}, "deploy.strategy", "unknown strategy 'yolo'"),
        ({**URLS, "strategy": "cannary"}, "deploy.strategy", "(did you mean 'canary'?)"),
        ({**URLS, "colour": 1}, "deploy.colour", "unknown key"),
        ({**URLS, "strategy": "bluegreen", "percent": 10}, "deploy.percent", "does not apply"),
        ({**URLS, "proxy_port": "80"}, "deploy.proxy_port", "integer 0..65535"),
        ({**URLS, "admin_port": 8000}, "deploy.admin_port", "must differ"),
        ({**URLS, "sticky": "yes"}, "deploy.sticky", "true or false"),
        ({**URLS, "steps": [1, 5, 5]}, "deploy.steps[2]", "must increase"),
        ({**URLS, "steps": [1, 200]}, "deploy.steps[1]", "1..100"),
        ({**URLS, "steps": [1], "step_weight": 5}, "deploy.steps", "not both"),
        ({**URLS, "step_weight": 30, "max_weight": 20}, "deploy.max_weight", ">= step_weight"),
        ({**URLS, "interval": "soon"}, "deploy.interval", "duration"),
        ({**URLS, "interval": 0}, "deploy.interval", "positive duration"),
        ({**URLS, "min_success_rate": 99}, "deploy.min_success_rate", "fraction"),
        ({**URLS, "max_p99_ms": -5}, "deploy.max_p99_ms", "> 0"),
        ({**URLS, "failure_limit": 0}, "deploy.failure_limit", "1..1000"),
        ({**URLS, "strategy": "linear", "every": "1m"}, "deploy.percent", "required"),
        ({**URLS, "strategy": "linear", "percent": 10}, "deploy.every", "required"),
        (
            {"blue": ["http://a:1", "http://a:2"], "green": ["http://b:1"], "strategy": "rolling"},
            "deploy.green",
            "need 2 green URLs",
        ),
        (
            {**URLS, "strategy": "rolling", "batch_size": 2},
            "deploy.batch_size",
            "must be 1..1",
        ),
        ({**URLS, "strategy": "manual", "step": 0}, "deploy.step", "1..100"),
        ({**URLS, "blue": ["http://a:1", "http://a:1"]}, "deploy.blue[1]", "duplicate"),
    ],
)
def test_parse_deploy_errors_name_the_key(table: dict[str, Any], key: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_deploy(table)
    assert err.value.key == key
    assert message in err.value.message


@pytest.mark.parametrize(
    ("options", "cls", "first"),
    [
        ({}, Canary, Weights(90, 10)),
        ({"steps": [1, 5, 25, 50, 100], "interval": "30s"}, Canary, Weights(99, 1)),
        ({"strategy": "bluegreen"}, Switch, ALL_GREEN),
        ({"strategy": "bluegreen", "smoke": True, "smoke_duration": "10s"}, Switch, ALL_BLUE),
        ({"strategy": "linear", "percent": 10, "every": "1m"}, Linear, Weights(90, 10)),
        ({"strategy": "rolling", "interval": 5}, Rolling, ALL_BLUE),
        (
            {"strategy": "rolling-with-additional-batch"},
            RollingWithAdditionalBatch,
            Weights(50, 50),
        ),
        ({"strategy": "manual"}, Manual, ALL_BLUE),
    ],
)
def test_parse_deploy_builds_each_strategy(
    options: dict[str, Any], cls: type, first: Weights
) -> None:
    plan = parse_deploy({**URLS, "proxy_port": 9000, "admin_port": 9001, **options})
    assert (plan.proxy_port, plan.admin_port, plan.blue) == (9000, 9001, tuple(URLS["blue"]))
    strategy = plan.build()
    assert type(strategy) is cls
    assert strategy.start(0).weights == first


def test_switch_is_read_as_bluegreen_with_a_note() -> None:
    """One name per strategy (bluegreen); a profile's old `switch` still runs, noted."""
    plan = parse_deploy({**URLS, "strategy": "switch", "smoke": True})
    assert plan.strategy == "bluegreen" and type(plan.build()) is Switch
    assert plan.notes == (
        (("deploy", "strategy"), "'switch' is now called 'bluegreen' (still read, for now)"),
    )
    assert parse_deploy({**URLS, "strategy": "bluegreen"}).notes == ()


def test_parse_deploy_analysis_options() -> None:
    plan = parse_deploy(
        {**URLS, "interval": "2m", "min_requests": 200, "max_p99_ms": 250, "failure_limit": 3}
    )
    a = plan.options["analysis"]
    assert (a.interval, a.min_requests, a.max_p99_ms) == (120.0, 200, 250.0)
    canary = plan.build()
    assert isinstance(canary, Canary) and canary.failure_limit == 3
    assert (
        "analysis"
        not in parse_deploy({**URLS, "strategy": "linear", "percent": 10, "every": 60}).options
    )
