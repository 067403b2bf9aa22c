"""The outcome on record, as pure functions: max_inconclusive, the exit code with a
rollout, the [deploy] table and its text, and the profile keys that choose a router."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.deploy.driver import DeployDriver
from engine.deploy.marks import Mark, ModelFigures, RunFigures
from engine.deploy.record import outcome_of, rollout_exit_code
from engine.deploy.routers import Router, RouterError
from engine.deploy.strategies import (
    ALL_BLUE,
    Analysis,
    Canary,
    ColorFigures,
    EventKind,
    Phase,
    Switch,
    Weights,
)
from engine.errors import ConfigError
from engine.exit_codes import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_ROLLED_BACK,
    EXIT_THRESHOLDS,
    EXIT_UNFINISHED,
)
from engine.profile import parse_deploy
from engine.report.deploy_section import (
    ColorWindow,
    DeployRecord,
    Outcome,
    StepRow,
    deploy_table,
    render_deploy,
    render_deploy_pair,
)

QUIET = {"blue": ColorFigures(1000, 0, 5.0), "green": ColorFigures(2, 0, 5.0)}
GOOD = {"blue": ColorFigures(1000, 0, 5.0), "green": ColorFigures(100, 0, 5.0)}


def test_a_step_stays_inconclusive_at_most_max_inconclusive_windows() -> None:
    analysis = Analysis(interval=1.0, min_requests=10, max_inconclusive=2)
    canary = Canary(analysis, steps=[10, 50], failure_limit=1)
    canary.start(0.0)
    kinds = [e.kind for t in (1, 2, 3) for e in canary.step(float(t), QUIET).events]
    assert kinds[:2] == [EventKind.ANALYSIS_INCONCLUSIVE] * 2
    assert kinds[2] is EventKind.ANALYSIS_FAILED and kinds[-1] is EventKind.ROLLED_BACK
    assert canary.phase is Phase.ROLLED_BACK and canary.weights == ALL_BLUE


def test_a_conclusive_window_resets_the_inconclusive_count() -> None:
    analysis = Analysis(interval=1.0, min_requests=10, max_inconclusive=1)
    canary = Canary(analysis, steps=[10, 20, 50], failure_limit=1)
    canary.start(0.0)
    for t, figures in ((1, QUIET), (2, GOOD), (3, QUIET), (4, GOOD)):
        canary.step(float(t), figures)
    assert canary.phase is Phase.RUNNING and canary.weights.green == 50


def test_a_smoke_too_quiet_to_judge_fails_after_max_inconclusive() -> None:
    switch = Switch(Analysis(interval=1.0, min_requests=10, max_inconclusive=1))
    switch.start(0.0)
    assert switch.step(1.0, QUIET).events[0].kind is EventKind.ANALYSIS_INCONCLUSIVE
    events = switch.step(2.0, QUIET).events
    assert events[0].kind is EventKind.ANALYSIS_FAILED and "max_inconclusive 1" in events[0].message
    assert switch.phase is Phase.ROLLED_BACK


@pytest.mark.parametrize(
    ("run_code", "outcome", "expected"),
    [
        (EXIT_OK, Outcome.ROLLED_BACK, EXIT_ROLLED_BACK),
        (EXIT_THRESHOLDS, Outcome.ROLLED_BACK, EXIT_THRESHOLDS),  # 99 wins
        (EXIT_ERROR, Outcome.ROLLED_BACK, EXIT_ROLLED_BACK),
        (EXIT_OK, Outcome.PROMOTED, EXIT_OK),
        (EXIT_ERROR, Outcome.STOPPED, EXIT_ERROR),
        (EXIT_OK, Outcome.STOPPED, EXIT_OK),
        (EXIT_OK, Outcome.UNFINISHED, EXIT_UNFINISHED),  # the load ended first: not a pass
        (EXIT_THRESHOLDS, Outcome.UNFINISHED, EXIT_THRESHOLDS),  # 99 > 4
        (EXIT_OK, None, EXIT_OK),
    ],
)
def test_exit_code_with_a_rollout(run_code: int, outcome: Outcome | None, expected: int) -> None:
    record = None if outcome is None else record_of(outcome)
    assert rollout_exit_code(run_code, record) == expected


def test_outcome_of_an_exit_mid_rollout_is_stopped_whatever_the_phase() -> None:
    assert outcome_of(Phase.ROLLED_BACK, exited=True) is Outcome.STOPPED
    assert outcome_of(Phase.ROLLED_BACK, exited=True, load_ended=True) is Outcome.UNFINISHED
    assert outcome_of(Phase.ROLLED_BACK, exited=False) is Outcome.ROLLED_BACK
    assert outcome_of(Phase.PROMOTED, exited=False) is Outcome.PROMOTED
    assert outcome_of(Phase.RUNNING, exited=False) is Outcome.RUNNING


def record_of(outcome: Outcome) -> DeployRecord:
    row = StepRow(
        5.0,
        0,
        90,
        10,
        5.0,
        ColorWindow(900, 0, 5, 6, 7),
        ColorWindow(100, 10, 5, 6, 7),
        "failed",
        "success rate 90.00% < 99.00%",
    )
    return DeployRecord(
        "canary",
        "haproxy (socket /x.sock, backend surge)",
        "2026-01-01T00:00:00+00:00",
        "2026-01-01T00:00:10+00:00",
        outcome,
        100,
        0,
        steps=(row,),
    )


def test_deploy_table_and_its_text() -> None:
    table = deploy_table(record_of(Outcome.ROLLED_BACK))
    assert table["outcome"] == "rolled_back" and table["final_weights"] == [100, 0]
    step = table["steps"][0]
    assert step["weights"] == [90, 10] and step["green"]["error_rate"] == 0.1
    text = "\n".join(render_deploy(record_of(Outcome.ROLLED_BACK)))
    assert "canary through haproxy" in text and "rolled back" in text
    assert "90:10" in text and "failed" in text and "success rate 90.00%" in text
    rolled_back = record_of(Outcome.ROLLED_BACK)
    pair = "\n".join(render_deploy_pair(record_of(Outcome.PROMOTED), rolled_back))
    assert "promoted" in pair and "rolled back" in pair
    assert render_deploy(None) == [] and render_deploy_pair(None, None) == []
    assert "none" in "\n".join(render_deploy_pair(None, rolled_back))


class Fixed(ModelFigures):
    """80 requests to blue and 20 to green (2 failed) since the start, whenever asked."""

    def __call__(self, run: RunFigures | None, color: str, t: float) -> Mark:
        return {"blue": Mark(t, 80, 0, {}), "green": Mark(t, 20, 2, {})}[color]


def test_driver_records_each_judged_window_at_the_weights_it_ran_at() -> None:
    now = [0.0]
    analysis = Analysis(interval=1.0, min_requests=10, max_p99_ratio=None)
    driver = DeployDriver(
        Canary(analysis, steps=[20, 100]), None, clock=lambda: now[0], figures_of=Fixed()
    )
    driver.start()
    now[0] = 1.0
    seen = []
    driver.on_event = lambda at, e, row: seen.append((e.kind, row))
    driver.observe(None)
    assert seen[0][0] is EventKind.ANALYSIS_FAILED
    row = seen[0][1]
    assert (row.blue_weight, row.green_weight) == (80, 20) and row.green.failed == 2
    assert row.window_s == pytest.approx(1.0)
    record = driver.record()
    assert record is not None and record.outcome is Outcome.ROLLED_BACK
    assert dt.datetime.fromisoformat(record.start) <= dt.datetime.fromisoformat(record.end)


def test_leave_mid_rollout_applies_on_exit() -> None:
    for on_exit, weights in (("rollback", (100, 0)), ("keep", (80, 20))):
        driver = DeployDriver(Canary(Analysis(interval=60.0), steps=[20]), None, on_exit=on_exit)
        driver.start()
        driver.leave()
        record = driver.record()
        assert record is not None and record.outcome is Outcome.STOPPED
        assert (record.blue_weight, record.green_weight) == weights
    never = DeployDriver(Canary(Analysis(interval=60.0), steps=[20]), None)
    assert never.leave() is None and never.record() is None


def test_a_rollout_the_load_ended_before_its_verdict_is_unfinished() -> None:
    driver = DeployDriver(Canary(Analysis(interval=60.0), steps=[20]), None)
    driver.start()
    driver.leave(load_ended=True)
    record = driver.record()
    assert record is not None and record.outcome is Outcome.UNFINISHED
    assert (record.blue_weight, record.green_weight) == (100, 0)
    assert "the load ended before the verdict" in record.events[-1].message
    assert rollout_exit_code(EXIT_OK, record) == EXIT_UNFINISHED


BASE = {"blue": ["http://127.0.0.1:8081"], "green": ["http://127.0.0.1:8082"]}


def test_profile_keys_for_routers_and_on_exit() -> None:
    plan = parse_deploy({**BASE, "router": "haproxy", "socket": "/tmp/h.sock", "on_exit": "keep"})
    assert (plan.router, plan.socket, plan.on_exit, plan.backend) == (
        "haproxy",
        "/tmp/h.sock",
        "keep",
        "surge",
    )
    assert parse_deploy(BASE).router == "surge" and parse_deploy(BASE).on_exit == "rollback"
    assert parse_deploy(BASE).figures == "load"
    assert parse_deploy({**BASE, "figures": "router"}).figures == "router"
    analysis = parse_deploy({**BASE, "max_inconclusive": 5}).options["analysis"]
    assert analysis.max_inconclusive == 5
    assert Analysis().max_inconclusive == 3


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"router": "nginx"}, "deploy.router: expected one of surge, haproxy, envoy"),
        ({"on_exit": "promote"}, "deploy.on_exit: expected one of rollback, keep"),
        ({"socket": "/tmp/x.sock"}, 'deploy.socket: applies to router = "haproxy" or "envoy"'),
        ({"max_inconclusive": -1}, "deploy.max_inconclusive"),
        ({"figures": "guess"}, "deploy.figures: expected one of load, router"),
    ],
)
def test_bad_router_keys_name_the_key(extra: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_deploy({**BASE, **extra})


class Unsure(Router):
    """A router that answers until `down` is set, then refuses every command."""

    kind = "unsure"

    def __init__(self) -> None:
        self.down = False

    def describe(self) -> str:
        return "unsure"

    async def set_weights(self, weights: Weights) -> None:
        if self.down:
            raise RouterError("connection refused")

    async def set_in_service(self, in_service: object) -> None:
        return None


async def test_a_router_error_is_an_event_once_and_its_recovery_too() -> None:
    router = Unsure()
    router.down = True
    driver = DeployDriver(Canary(Analysis(interval=60.0), steps=[20, 50]), router)
    driver.start()
    await driver.flush()
    driver.promote()
    await driver.flush()
    router.down = False
    driver.rollback()
    await driver.flush()
    kinds = [e.kind for e in driver.events]
    assert kinds.count(EventKind.ROUTER_ERROR) == 1 and kinds.count(EventKind.ROUTER_BACK) == 1
    assert driver.error is None


async def test_a_rollback_the_router_never_took_is_a_failure_not_a_rollback() -> None:
    router = Unsure()
    driver = DeployDriver(Canary(Analysis(interval=60.0), steps=[20, 50]), router)
    driver.start()
    await driver.flush()
    assert driver.applied == Weights(80, 20)
    router.down = True
    driver.rollback()
    record = await driver.finish()
    assert record is not None and record.outcome is Outcome.ROUTER_FAILED
    assert (record.blue_weight, record.green_weight) == (80, 20)  # the last it confirmed
    assert rollout_exit_code(EXIT_OK, record) == EXIT_ERROR
    assert rollout_exit_code(EXIT_THRESHOLDS, record) == EXIT_THRESHOLDS
    table = deploy_table(record)
    kinds = [e["kind"] for e in table["events"]]
    assert "rollback not applied" in kinds and "rolled back" not in kinds
    assert "not applied" in table["events"][-1]["message"]
    text = "\n".join(render_deploy(record))
    assert "router failed" in text and "rolled back" not in text
    assert "final weights 80:20" in text


async def test_weights_no_router_ever_confirmed_are_not_on_record() -> None:
    router = Unsure()
    router.down = True
    driver = DeployDriver(Canary(Analysis(interval=60.0), steps=[20]), router)
    driver.start()
    record = await driver.finish(load_ended=True)
    assert record is not None and record.outcome is Outcome.ROUTER_FAILED
    table = deploy_table(record)
    assert "final_weights" not in table
    assert "final weights unknown" in "\n".join(render_deploy(record))
