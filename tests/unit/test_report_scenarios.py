"""A report of several scenarios: compared scenario by scenario, exported as k6 does."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import replace

from engine.load.metrics import Interval, Recorder
from engine.load.model import LatencyStats, RunModel
from engine.load.run import RunResult
from engine.profile import parse_profile
from engine.profile.plan import Overrides, build_plan
from engine.report.compare import compare
from engine.report.document import build_report
from engine.report.k6_summary import summary_export
from engine.report.model import (
    Checks,
    GroupSection,
    Meta,
    Report,
    ScenarioSection,
    Summary,
    ThresholdEntry,
    parse_report,
)
from engine.report.review import review_report
from engine.report.summary import render_report


def _scenario(p95: float, **figures: float) -> ScenarioSection:
    stats = LatencyStats(p95=p95, p99=p95)
    return ScenarioSection(
        requests=int(figures.pop("requests", 10_000)),
        rps=figures.pop("rps", 100.0),
        latency=stats,
        http_req_duration=stats,
        iteration_duration=stats,
        **figures,  # type: ignore[arg-type]
    )


def _report(scenarios: dict[str, ScenarioSection], **groups: GroupSection) -> Report:
    return Report(
        Meta(executor="scenarios", target="http://a"),
        Summary(requests=20_000, rps=200.0),
        scenarios=scenarios,
        groups={f"::{name}": g for name, g in groups.items()},
    )


def test_compare_pairs_scenarios_by_name() -> None:
    base = _report(
        {
            "browse": _scenario(10.0),
            "buy": _scenario(50.0, dropped_iterations=0),
            "old": _scenario(1),
        },
        checkout=GroupSection(group_duration=LatencyStats(p95=100.0)),
    )
    new = _report(
        {
            "buy": _scenario(80.0, dropped_iterations=7, executor_options={"vus": 3}),
            "browse": _scenario(10.0, rps=50.0),
            "new": _scenario(1),
        },
        checkout=GroupSection(group_duration=LatencyStats(p95=200.0)),
    )
    result = compare(base, new, 0.1)
    assert [r.label for r in result.regressions] == [
        "scenario browse rps",
        "scenario buy latency p95",
        "scenario buy latency p99",
    ]
    rows = {r.label: r for r in result.rows}
    assert rows["scenario buy dropped iterations"].direction == "worse"
    assert rows["scenario buy iteration p95"].direction == "worse"
    assert rows["group ::checkout group_duration p95"].direction == "worse"
    assert "scenario browse vus max" not in rows and "scenario browse checks" not in rows
    assert list(result.warnings) == [
        "scenario buy: different executor options: vus - → 3",
        "scenario old only in BASE: not compared",
        "scenario new only in NEW: not compared",
    ]


def test_a_lone_scenario_is_not_the_total_twice_but_a_lone_group_is_compared() -> None:
    """One `default` scenario beside groups is the whole run again; a group is a part."""
    group = GroupSection(requests=5, group_duration=LatencyStats(p95=5.0))
    base = _report({"default": _scenario(10.0)}, g=group)
    new = _report({"default": _scenario(20.0)}, g=group)
    assert {r.section for r in compare(base, new).rows} == {"total", "group ::g"}


def _exported() -> dict:
    stats = LatencyStats(mean=3.0, min=1.0, p50=2.0, p90=4.0, p95=5.0, max=9.0)
    browse = ScenarioSection(
        requests=40, failed=4, iterations=38, dropped_iterations=32, http_req_duration=stats
    )
    setup = ScenarioSection(requests=1)
    checkout = GroupSection(
        requests=6, group_duration=stats, checks={"paid": Checks(5, 1), "ok": Checks(2, 0)}
    )
    pay = GroupSection(requests=3, checks={"card ok": Checks(3, 0)})
    keys = (
        "http_reqs{scenario:browse}",
        "iterations{scenario:browse}",
        "dropped_iterations{scenario:browse}",
        "http_req_duration{scenario:browse}",
        "http_req_failed{scenario:browse}",
        "group_duration{group:::checkout}",
        "http_reqs{group:::checkout}",
        "checks{group:::checkout}",
        "http_reqs{group:::setup}",
        "dropped_iterations{kind:read}",
    )
    report = replace(
        _report({"browse": browse, "(setup)": setup}),
        groups={"::checkout": checkout, "::checkout::pay": pay},
        checks={"ok": Checks(12, 0), "paid": Checks(5, 1), "card ok": Checks(3, 0)},
        thresholds=tuple(ThresholdEntry(k, "count>=0", True, 0.0) for k in keys),
        meta=Meta(executor="scenarios", duration_s=2.0),
    )
    return summary_export(report)


def test_the_k6_export_nests_groups_with_their_checks_as_k6_does() -> None:
    root = _exported()["root_group"]
    md5 = lambda text: hashlib.md5(text.encode()).hexdigest()  # noqa: E731
    assert root["id"] == md5("") and list(root["groups"]) == ["checkout"]
    checkout = root["groups"]["checkout"]
    assert (checkout["path"], checkout["id"]) == ("::checkout", md5("::checkout"))
    assert checkout["checks"]["paid"] == {
        "name": "paid",
        "path": "::checkout::paid",
        "id": md5("::checkout::paid"),
        "passes": 5,
        "fails": 1,
    }
    pay = checkout["groups"]["pay"]
    assert (pay["path"], pay["groups"]) == ("::checkout::pay", {})
    assert pay["checks"]["card ok"]["path"] == "::checkout::pay::card ok"
    # the root keeps what was checked outside every group: 10 of "ok", none of the others
    assert list(root["checks"]) == ["ok"] and root["checks"]["ok"]["passes"] == 10
    assert root["checks"]["ok"]["path"] == "::ok"


def test_the_k6_export_lists_scenario_and_group_submetrics_a_threshold_names() -> None:
    metrics = _exported()["metrics"]
    assert metrics["http_reqs{scenario:browse}"] == {
        "count": 40,
        "rate": 20.0,
        "thresholds": {"count>=0": False},
    }
    assert metrics["iterations{scenario:browse}"]["count"] == 38
    assert metrics["dropped_iterations{scenario:browse}"]["count"] == 32
    assert metrics["http_req_duration{scenario:browse}"]["p(95)"] == 5.0
    assert metrics["http_req_failed{scenario:browse}"]["passes"] == 4
    assert metrics["group_duration{group:::checkout}"]["avg"] == 3.0
    assert metrics["http_reqs{group:::checkout}"]["count"] == 6
    assert metrics["checks{group:::checkout}"] == {
        "passes": 7,
        "fails": 1,
        "value": 7 / 8,
        "thresholds": {"count>=0": False},
    }
    assert metrics["http_reqs{group:::setup}"]["count"] == 1  # setup's lane: k6's ::setup
    # a user's tag is never a scenario's dropped count (k6 tags drops with the scenario only)
    assert metrics["dropped_iterations{kind:read}"]["count"] == 0.0


FLOW = """\
name = "shop"
base_url = "http://127.0.0.1:9"
vus = 2
duration = "4s"

[[flow.steps]]
name = "home"
path = "/"
[[flow.steps]]
name = "cart"
path = "/cart"
[[flow.steps]]
name = "pay"
path = "/pay"
"""
GROUPED = FLOW.replace('path = "/cart"', 'path = "/cart"\ngroup = "checkout"').replace(
    'path = "/pay"', 'path = "/pay"\ngroup = "checkout"'
)
START = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)


def _interval(lane: str, k: int, n: int) -> Interval:
    """Interval k of a lane: n passes of its flow (one iteration each), the cart checked."""
    rec = Recorder(separate_latency=False, start=k - 1.0)
    for i in range(n):
        for step in ("home", "cart", "pay"):
            rec.record(step, None, 1000 + i, 1000 + i, 200, False, 100, 10)
        rec.check("cart ok", i % 4 != 0, "cart")
        rec.group("::checkout", 2500 + i)
        rec.iteration(4000 + i)
    if lane == "browse":
        rec.dropped(k)
    return rec.harvest(float(k), vus=1 if n else 0, vus_max=2, target=1.0)


def _run(lanes: dict[str, list[int]], profile: str = FLOW) -> RunResult:
    """A run whose lanes made these many passes per interval, with the plan to match."""
    plan = build_plan(parse_profile(profile, "shop.toml"), Overrides(), interval=1.0)
    default = plan.work.only
    scenarios = (
        replace(
            default,
            name="browse",
            executor=replace(
                default.executor,
                executor="constant-arrival-rate",
                rate=5,
                pre_allocated_vus=1,
                max_vus=2,
            ),
            tags=(("kind", "read"),),
            exec="browse",
        ),
        replace(default, name="buy", start_time=2.0),
    )
    plan = replace(plan, work=replace(plan.work, scenarios=scenarios))
    model = RunModel()
    for k in range(1, 5):
        top = Interval(k - 1.0, float(k))
        parts = {name: _interval(name, k, passes[k - 1]) for name, passes in lanes.items()}
        for iv in parts.values():
            top.add(iv)
        top.lanes = parts
        model.add(top)
    return RunResult(plan, model, START, model.elapsed, False, None)


def test_a_run_of_several_scenarios_reports_each_scenario() -> None:
    result = _run({"browse": [3, 3, 3, 3], "buy": [0, 0, 2, 0], "(setup)": [1, 0, 0, 0]})
    report = build_report(result)
    assert (report.meta.executor, report.meta.executor_options) == ("scenarios", {})
    assert list(report.scenarios) == ["(setup)", "browse", "buy"]  # as they ran
    setup, browse, buy = report.scenarios.values()
    assert (browse.requests, browse.iterations, browse.dropped_iterations) == (36, 12, 10)
    assert browse.rps == 9.0  # over the whole run's 4 s, as k6 rates a scenario's counters
    assert (browse.executor, browse.executor_options["rate"], browse.exec) == (
        "constant-arrival-rate",
        5,
        "browse",
    )
    assert browse.tags == {"kind": "read"} and browse.checks["cart ok"] == Checks(8, 4)
    assert (buy.start_time_s, buy.ended_s, buy.requests, buy.iterations) == (2.0, 3.0, 6, 2)
    assert buy.executor == "constant-vus" and setup.requests == 3
    assert report.summary.requests == 3 * 15
    # a group's duration is kept though no step of the plan says it is in the group
    assert report.groups["::checkout"].group_duration.min == 2.5
    assert report.groups["::checkout"].requests == 0
    assert parse_report(report.table()) == report
    exported = summary_export(report)
    assert exported["root_group"]["checks"]["cart ok"]["passes"] == 9
    # k6's group_duration over every group: 4 x 3 passes of browse, 2 of buy, 1 of setup
    assert exported["metrics"]["group_duration"]["avg"] == round(
        (12 * 2501 + 2 * 2500.5 + 2500) / 15 / 1000, 3
    )
    assert "browse       constant-arrival-rate" in render_report(report)
    # read back, the run had a target rate: one of its scenarios did
    assert review_report(parse_report(report.table())).open_model


def test_a_group_holds_its_steps_requests_and_checks() -> None:
    result = _run({"browse": [3, 3, 3, 3], "buy": [0, 0, 2, 0], "(setup)": [1, 0, 0, 0]}, GROUPED)
    report = build_report(result)
    checkout = report.groups["::checkout"]
    assert checkout.requests == 2 * (12 + 2)  # cart and pay of the scenarios' flow
    assert checkout.group_duration.min == 2.5 and checkout.checks == {"cart ok": Checks(9, 5)}
    assert parse_report(report.table()) == report
    exported = summary_export(report)["root_group"]
    assert summary_export(report)["metrics"]["group_duration"]["min"] == 2.5
    assert exported["groups"]["checkout"]["checks"]["cart ok"]["passes"] == 9
    assert exported["checks"]["cart ok"]["fails"] == 1  # setup's: outside the group


def test_a_run_of_the_one_default_scenario_writes_no_scenario_table() -> None:
    """No [scenarios] and no groups: the report of before, whatever the lanes say."""
    result = _run({"default": [3, 3, 3, 3]})
    result.model.total.groups.clear()
    report = build_report(result)
    assert report.scenarios == {} and report.groups == {}
    assert "scenarios" not in report.table() and "groups" not in report.table()
