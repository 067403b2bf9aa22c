"""Issue 31's metrics and hooks, the pure parts: conditions, Argo's counting, the
profile's keys, the promotion gate in a strategy, and the record."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.deploy.gates.conditions import parse_condition
from engine.deploy.gates.metrics import (
    MetricGate,
    MetricVerdict,
    Phase,
    assess,
    combine,
    window_verdict,
)
from engine.deploy.gates.providers import PrometheusProvider, follow, parse_json_path
from engine.deploy.gates.spec import MetricSpec
from engine.deploy.record import outcome_of, rollout_exit_code
from engine.deploy.strategies import EventKind, Linear, Verdict
from engine.deploy.strategies import Phase as StrategyPhase
from engine.deploy.strategies.base import GateAnswer
from engine.exit_codes import ExitCode
from engine.profile import ProfileError, parse_profile
from engine.report.deploy_gates import HookRow, MeasurementRow, MetricRow, MetricWindowRow
from engine.report.deploy_section import DeployRecord, Outcome, deploy_table, render_deploy
from engine.report.model import parse_report

PASSED, FAILED, INCONCLUSIVE = (
    EventKind.ANALYSIS_PASSED,
    EventKind.ANALYSIS_FAILED,
    EventKind.ANALYSIS_INCONCLUSIVE,
)


@pytest.mark.parametrize(
    ("text", "result", "holds"),
    [
        ("result < 0.01", 0.005, True),
        ("result < 0.01", 0.01, False),
        ("result <= 0.01", 0.01, True),
        ("result >= 0.99", 0.99, True),
        ("result > 1e3", 1001, True),
        ("result == 0", 0.0, True),
        ("result != 0", 0.0, False),
        ("0.5 < result", 0.6, True),  # the number first: flipped
        ("result[0] >= 0.95", 0.96, True),  # Argo's spelling of a vector's first value
        ("result > 1 and result < 3", 2, True),
        ("result > 1 and result < 3", 3, False),
        ("result < 1 or result > 3", 4, True),
        ("result < 1 or result > 3 and result < 2", 4, False),  # and binds tighter
        ("(result < 1 or result > 3) and result != 7", 7, False),
        ("  result   >=   -2.5 ", -2.5, True),
    ],
)
def test_a_condition_holds_as_written(text: str, result: float, holds: bool) -> None:
    assert parse_condition(text).holds(result) is holds


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("rate < 1", "cannot read 'rate'"),
        ("result <", "expected a number"),
        ("result < 1 and", "expected"),
        ("1 < 2", "expected result"),
        ("result < 1)", "unexpected ')'"),
        ("(result < 1", "expected ')'"),
        ("result = 1", "cannot read"),
        ("result < 1 xor result > 2", "cannot read 'xor'"),
    ],
)
def test_a_bad_condition_says_what_is_wrong(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=None) as info:
        parse_condition(text)
    assert fragment in str(info.value)


def _spec(success: str | None = None, failure: str | None = None, **kw: object) -> MetricSpec:
    return MetricSpec(
        "error_rate",
        PrometheusProvider("http://127.0.0.1:9", "up"),
        parse_condition(success) if success else None,
        parse_condition(failure) if failure else None,
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("success", "failure", "value", "phase"),
    [  # Argo's evaluation of one measurement
        ("result < 0.01", None, 0.0, Phase.SUCCESSFUL),
        ("result < 0.01", None, 0.07, Phase.FAILED),  # only success: missing it fails
        (None, "result >= 0.05", 0.07, Phase.FAILED),
        (None, "result >= 0.05", 0.02, Phase.SUCCESSFUL),  # only failure: missing it passes
        ("result < 0.01", "result >= 0.05", 0.02, Phase.INCONCLUSIVE),  # neither holds
        ("result < 0.01", "result >= 0.05", 0.0, Phase.SUCCESSFUL),
        ("result >= 0", "result >= 0.05", 0.07, Phase.FAILED),  # failure wins over success
    ],
)
def test_a_measurement_is_assessed_as_argo_does(
    success: str | None, failure: str | None, value: float, phase: Phase
) -> None:
    assert assess(_spec(success, failure), value)[0] is phase


def test_a_failed_measurement_says_its_value_and_the_condition() -> None:
    _, message = assess(_spec(failure="result >= 0.05"), 0.07)
    assert message == 'error_rate: result 0.07 meets failure "result >= 0.05"'


def _rows(*phases: str) -> list[MeasurementRow]:
    return [MeasurementRow(float(i), 1.0, p, f"m{i} {p}") for i, p in enumerate(phases)]


S, F, N, E = "successful", "failed", "inconclusive", "error"


@pytest.mark.parametrize(
    ("kw", "window", "errors_in_a_row", "outcome"),
    [
        ({}, [S], 0, PASSED),
        ({}, [S, S, F], 0, FAILED),  # failure_limit 0: one failed measurement fails
        ({"failure_limit": 1}, [F, S], 0, PASSED),  # failed > limit, not >=
        ({"failure_limit": 1}, [F, S, F], 0, FAILED),
        ({}, [S, N], 0, INCONCLUSIVE),  # inconclusive_limit 0
        ({"inconclusive_limit": 1}, [S, N], 0, PASSED),
        ({}, [], 0, INCONCLUSIVE),  # still measuring: none came back
        ({"count": 3}, [S, S], 0, INCONCLUSIVE),  # still measuring: 2 of 3
        ({"count": 3}, [S, S, S], 0, PASSED),
        ({}, [E, E, E, E], 4, INCONCLUSIVE),  # 4 errors in a row: not past the limit
        ({}, [E, E, E, E, E], 5, FAILED),  # past consecutiveErrorLimit (4)
        ({"consecutive_error_limit": 0}, [S, E], 1, FAILED),
        ({}, [E, S], 0, PASSED),  # a success ends the run of errors
    ],
)
def test_a_window_is_judged_by_argos_limits(
    kw: dict[str, int], window: list[str], errors_in_a_row: int, outcome: EventKind
) -> None:
    verdict = window_verdict(_spec("result < 2", **kw), _rows(*window), errors_in_a_row)
    assert verdict.outcome is outcome, verdict.reason


def test_still_measuring_and_too_many_errors_say_so() -> None:
    spec = _spec("result < 2", count=2)
    assert window_verdict(spec, _rows(S), 0).reason == "error_rate: still measuring (1 of 2)"
    reason = window_verdict(_spec("result < 2"), _rows(E, E, E, E, E), 5).reason
    assert reason.startswith("error_rate: 5 errors in a row (consecutive_error_limit 4)")


@pytest.mark.parametrize(
    ("surge", "metrics", "outcome", "reason"),
    [
        (PASSED, [PASSED, PASSED], PASSED, "surge; a; b"),
        (PASSED, [FAILED, PASSED], FAILED, "a"),
        (FAILED, [FAILED, INCONCLUSIVE], FAILED, "surge; a"),
        (INCONCLUSIVE, [PASSED, INCONCLUSIVE], INCONCLUSIVE, "surge; b"),
        (INCONCLUSIVE, [FAILED, PASSED], FAILED, "a"),  # a metric fails a quiet window
    ],
)
def test_a_window_passes_when_surge_and_every_metric_pass(
    surge: EventKind, metrics: list[EventKind], outcome: EventKind, reason: str
) -> None:
    combined = combine(
        Verdict(surge, "surge"), [MetricVerdict(m, n) for m, n in zip(metrics, "ab", strict=True)]
    )
    assert combined == Verdict(outcome, reason)


@pytest.mark.parametrize(
    ("path", "body", "value"),
    [
        ("$.data.errors", {"data": {"errors": 0.07}}, 0.07),
        ("data.errors", {"data": {"errors": 3}}, 3.0),
        ("$.items[1].v", {"items": [{"v": 1}, {"v": "2.5"}]}, 2.5),  # a numeric string
        ("$['a key'][-1]", {"a key": [1, 9]}, 9.0),
    ],
)
def test_a_json_path_finds_the_number(path: str, body: object, value: float) -> None:
    assert follow(body, parse_json_path(path)) == value


@pytest.mark.parametrize(
    ("path", "body", "fragment"),
    [
        ("$.data.missing", {"data": {}}, "no $.data.missing"),
        ("$.data", {"data": {"x": 1}}, "not a number"),
        ("$.data", {"data": None}, "null"),
        ("$.data", {"data": "abc"}, "not a number"),
    ],
)
def test_a_json_path_without_a_number_says_why(path: str, body: object, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        follow(body, parse_json_path(path))
    assert fragment in str(info.value)


DEPLOY = (
    'name = "t"\nbase_url = "http://127.0.0.1:8080"\n'
    "[deploy]\nblue = ['http://127.0.0.1:1']\ngreen = ['http://127.0.0.1:2']\n"
    "strategy = 'linear'\npercent = 50\nevery = '2s'\n"
)
METRIC = (
    "[[deploy.metrics]]\nname = 'error_rate'\nprometheus = 'http://127.0.0.1:9090'\n"
    "query = 'sum(rate(x[10s]))'\nfailure = 'result >= 0.05'\nevery = '1s'\ncount = 2\n"
)


def test_metrics_and_hooks_are_read_from_the_profile() -> None:
    text = (
        DEPLOY
        + "[deploy.hooks]\non_refuse = 'pause'\npre_promotion = { command = ['./ok.sh'] }\n"
        + "on_rollback = { url = 'http://127.0.0.1:9/hook', timeout = '2s' }\n"
        + METRIC
        + "[[deploy.metrics]]\nname = 'queue'\nweb = 'http://127.0.0.1:9/q'\n"
        + "json = '$.data.depth'\nsuccess = 'result < 10'\n"
    )
    plan = parse_profile(text, "p.toml").deploy
    assert plan is not None
    gates = plan.gates
    assert [m.name for m in gates.metrics] == ["error_rate", "queue"]
    rate = gates.metrics[0]
    assert (rate.every, rate.count, rate.failure_limit, rate.consecutive_error_limit) == (
        1.0,
        2,
        0,
        4,
    )
    assert gates.metrics[1].provider.kind == "web"
    assert gates.hooks["pre_promotion"].command == ("./ok.sh",)
    assert gates.hooks["on_rollback"].timeout == 2.0
    assert gates.on_refuse == "pause"
    assert "analysis" in plan.options  # metrics alone make linear judge its windows


@pytest.mark.parametrize(
    ("extra", "key", "fragment"),
    [
        (METRIC.replace(">= 0.05", ">= oops"), "deploy.metrics[0].failure", "cannot read"),
        (METRIC.replace("count = 2", "count = 0"), "deploy.metrics[0].count", "1..10000"),
        (METRIC.replace("prometheus =", "promethus ="), "deploy.metrics[0].promethus", "unknown"),
        (METRIC + METRIC, "deploy.metrics[1].name", "duplicate"),
        (
            METRIC.replace("failure = 'result >= 0.05'\n", ""),
            "deploy.metrics[0]",
            "give success or failure",
        ),
        (
            "[deploy.hooks]\npre_rollout = { command = [] }\n",
            "deploy.hooks.pre_rollout.command",
            "non-empty",
        ),
        (
            "[deploy.hooks]\npost_rollout = { command = ['x'] }\n",
            "deploy.hooks.post_rollout",
            "unknown",
        ),
        ("[deploy.hooks]\non_refuse = 'halt'\n", "deploy.hooks.on_refuse", "rollback, pause"),
        (
            "[deploy.hooks]\npre_promotion = { command = ['x'], url = 'http://a' }\n",
            "deploy.hooks.pre_promotion",
            "one of them",
        ),
    ],
)
def test_a_bad_metric_or_hook_names_its_line_and_key(extra: str, key: str, fragment: str) -> None:
    text = DEPLOY + extra
    with pytest.raises(ProfileError) as info:
        parse_profile(text, "p.toml")
    err = info.value
    assert err.key == key and fragment in err.message, (err.key, err.message)
    assert err.line > DEPLOY.count("\n")  # the line of the culprit, in the metric's table


def test_metrics_need_a_strategy_that_judges_windows() -> None:
    text = DEPLOY.replace(
        "strategy = 'linear'\npercent = 50\nevery = '2s'\n", "strategy = 'manual'\n"
    )
    with pytest.raises(ProfileError) as info:
        parse_profile(text + METRIC, "p.toml")
    assert info.value.key == "deploy.metrics" and "judges no windows" in info.value.message


class _Gate:
    def __init__(self, *answers: GateAnswer) -> None:
        self.answers = list(answers)
        self.asked = 0

    def ask(self, now: float) -> tuple[GateAnswer, str]:
        self.asked += 1
        return self.answers.pop(0), "exit 1: green is not ready"


def _linear_at_last_step(gate: _Gate) -> Linear:
    s = Linear(50, 1.0)  # time-only: 50%, then 100% (a promotion) one second later
    s.promotion_gate = gate
    s.start(0.0)
    return s


def test_a_promotion_waits_for_its_gate_and_the_operator_bypasses_it() -> None:
    gate = _Gate(GateAnswer.WAIT, GateAnswer.WAIT, GateAnswer.ALLOW)
    s = _linear_at_last_step(gate)
    s.step(1.0)
    assert s.phase is StrategyPhase.RUNNING and s.weights.green == 50  # asked, waiting
    s.step(1.5)
    assert s.phase is StrategyPhase.RUNNING and gate.asked == 2
    d = s.step(2.0)
    assert s.phase is StrategyPhase.PROMOTED and d.changed
    by_hand = _linear_at_last_step(_Gate())
    by_hand.promote(0.5)  # the operator's P: no gate asked
    assert by_hand.phase is StrategyPhase.PROMOTED


def test_a_refused_promotion_rolls_back_or_pauses_and_asks_again_on_resume() -> None:
    s = _linear_at_last_step(_Gate(GateAnswer.ROLLBACK))
    d = s.step(1.0)
    assert s.phase is StrategyPhase.ROLLED_BACK and s.weights.green == 0
    assert "pre_promotion refused: exit 1" in d.events[-1].message
    gate = _Gate(GateAnswer.PAUSE, GateAnswer.ALLOW)
    s = _linear_at_last_step(gate)
    s.step(1.0)
    assert s.phase is StrategyPhase.PAUSED and s.weights.green == 50
    s.resume(5.0)
    s.step(5.0)
    assert s.phase is StrategyPhase.PROMOTED and gate.asked == 2


def test_a_refused_gate_is_an_outcome_and_an_exit_code_of_its_own() -> None:
    assert outcome_of(StrategyPhase.ROLLED_BACK, False, refused=True) is Outcome.GATE_REFUSED
    assert outcome_of(StrategyPhase.READY, False, refused=True) is Outcome.GATE_REFUSED
    assert outcome_of(StrategyPhase.PROMOTED, False, refused=True) is Outcome.PROMOTED
    record = DeployRecord("canary", "r", "", "", Outcome.GATE_REFUSED, 100, 0)
    assert rollout_exit_code(0, record) == ExitCode.GATE_REFUSED == 5
    assert rollout_exit_code(99, record) == 99


def test_metrics_and_hooks_round_trip_and_old_reports_stay_as_they_were() -> None:
    old = DeployRecord("canary", "r", "2026-01-01T00:00:00+00:00", "x", Outcome.PROMOTED, 0, 100)
    assert "metrics" not in deploy_table(old) and "hooks" not in deploy_table(old)
    metric = MetricRow(
        "error_rate",
        "prometheus",
        "http://127.0.0.1:9090: sum(rate(x[10s]))",
        "",
        "result >= 0.05",
        (
            MeasurementRow(1.0, 0.07, "failed", 'error_rate: result 0.07 meets failure "..."'),
            MeasurementRow(2.0, None, "error", "error_rate: timed out after 5s"),
        ),
        (MetricWindowRow(2.5, "failed", "error_rate: result 0.07"),),
    )
    hook = HookRow("pre_promotion", "./gate.sh", 3.0, 0.25, "refused", 1, "not ready\n")
    record = DeployRecord(
        "canary", "r", "s", "e", Outcome.GATE_REFUSED, 100, 0, metrics=(metric,), hooks=(hook,)
    )
    table = {"meta": {}, "summary": {"requests": 0}, "deploy": deploy_table(record)}
    assert parse_report(table).deploy == record
    text = "\n".join(render_deploy(record))
    assert "gate refused" in text
    assert "metric error_rate (prometheus): 0/1/0 windows" in text and "0.07, error" in text
    assert "hook pre_promotion (./gate.sh) at 3.0s: refused, exit 1" in text


def test_the_readmes_example_is_a_valid_profile() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Judging with metrics and gates", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    plan = parse_profile(DEPLOY + example, "README.md").deploy
    assert plan is not None
    assert [m.name for m in plan.gates.metrics] == ["error_rate", "queue_depth"]
    assert set(plan.gates.hooks) == {
        "pre_rollout",
        "pre_promotion",
        "post_promotion",
        "on_rollback",
    }


class _Held:
    """A metric source whose readings return only when the test lets them."""

    kind = "web"

    def __init__(self) -> None:
        self.calls = 0
        self.started = [asyncio.Event(), asyncio.Event()]
        self.release = asyncio.Event()

    def describe(self) -> str:
        return "held"

    async def measure(self, client: object) -> float:
        self.calls += 1
        self.started[min(self.calls, 2) - 1].set()
        await self.release.wait()
        self.release.clear()
        return float(self.calls)


async def test_a_reading_in_flight_when_a_window_begins_is_not_counted_in_it() -> None:
    held = _Held()
    gate = MetricGate([MetricSpec("lag", held, every=0.01)])  # type: ignore[arg-type]
    gate.start(0.0)
    try:
        await held.started[0].wait()
        gate.new_window()  # the first reading began in the last window ...
        held.release.set()  # ... and comes back in this one
        await asyncio.wait_for(held.started[1].wait(), 5)
        assert gate.runs[0].window == []
        held.release.set()
        while not gate.runs[0].window:
            await asyncio.sleep(0.01)
        assert [m.value for m in gate.runs[0].window] == [2.0]
    finally:
        await gate.aclose()
