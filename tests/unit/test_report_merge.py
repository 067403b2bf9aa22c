"""`report merge` of two generators' reports equals the report of one run of all their requests.

Two generators run side by side: interval k of each is what the scripted stand-in
records (steps, a blue and a green upstream, 500s and timeouts, checks). One run of all
the requests is the same intervals added as a run adds its workers' (`Interval.add`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from engine.load.metrics import Interval, merge_histograms
from engine.load.model import RunModel
from engine.load.run import RunResult
from engine.load.thresholds import parse_cli_threshold
from engine.profile import parse_profile
from engine.profile.plan import Overrides, RunPlan, build_plan
from engine.report.document import (
    ReportError,
    build_report,
    group_tables,
    lane_tables,
    read_report,
)
from engine.report.merge import merge_reports, merge_warnings
from engine.report.model import Report, ScenarioSection, parse_report
from tests.app.test_app import SHOP
from tests.report_fixtures import BASE
from tests.scripted import scripted_interval

EXACT = (
    "latency:p(95)<6",
    "latency{step:items}:avg<5",
    "http_req_duration:p(99.9)<20",
    "http_req_duration{expected_response:true}:max<20",
    "http_req_duration{expected_response:false}:p(90)<20",  # the failed requests alone
    "http_req_duration{upstream:green}:med<5",
    "http_req_failed:rate<0.01",
    "http_req_failed{expected_response:true}:rate<0.01",
    "http_req_failed{upstream:blue}:rate<0.01",
    "http_reqs:count>100",
    "http_reqs{step:home}:rate>10",
    "http_reqs{expected_response:false}:count<3",
    "http_reqs{step:checkout}:count>0",  # no such step: 0, as the run counts it
    "data_received:count>0",
    "data_sent{upstream:green}:rate>0",
    "iterations:rate>10",
    "dropped_iterations:count<1",
    "iteration_duration:p(95)<10",
    "checks:rate>0.99",
    "checks{check:items ok}:rate>0.99",
    "vus:value>1",
    "vus_max:max<10",
)
# What no report keeps the histograms for: the inputs' verdicts, not recomputed.
KEPT = (
    "http_req_duration:p(95)<6 over 2s",
    "http_req_waiting:p(95)<5",
    "latency{step:home,upstream:blue}:p(95)<6",
    "checks{step:home}:rate>0.99",  # reports keep checks by name, not by step
)
START = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)


# Judged again on that scenario's figures alone.
PER_SCENARIO = (
    "http_reqs{scenario:browse}:count>100",
    "http_req_duration{scenario:browse}:p(95)<6",
    "http_req_duration{scenario:buy,expected_response:true}:max<20",
    "http_req_failed{scenario:buy}:rate<0.01",
    "iterations{scenario:buy}:count>10",
    "dropped_iterations{scenario:browse}:count<5",
    "iteration_duration{scenario:browse}:avg<5",
)
# Judged again on that group's figures alone: its steps' requests, its group_duration.
PER_GROUP = (
    "http_reqs{group:::g}:count>0",
    "http_req_failed{group:::g}:rate<0.01",
    "group_duration{group:::g}:max<100",
    "http_reqs{group:::setup}:count>0",  # setup's lane
)


def _plan(extra: tuple[str, ...] = ()) -> RunPlan:
    thresholds = tuple(parse_cli_threshold(t) for t in EXACT + KEPT + extra)
    overrides = Overrides(thresholds=thresholds, replace_thresholds=True)
    return build_plan(parse_profile(SHOP, "shop.toml"), overrides, interval=1.0)


def _report(plan: RunPlan, intervals: list[Interval]) -> Report:
    model = RunModel(plan.thresholds)
    for iv in intervals:
        model.add(iv)
        model.evaluate()
    model.evaluate(final=True)
    return build_report(RunResult(plan, model, START, model.elapsed, False, None))


def _both(a: Interval, b: Interval) -> Interval:
    out = Interval(a.start, a.end)
    out.add(a)
    out.add(b)
    return out


def _verdicts(report: Report) -> dict[str, tuple[bool, float | None]]:
    return {f"{t.metric}:{t.expression}": (t.ok, t.observed) for t in report.thresholds}


def test_a_merge_is_the_report_of_one_run_of_every_request() -> None:
    plan = _plan()
    green = lambda: 30  # noqa: E731  (green's share in percent)
    one = [scripted_interval(plan, k, 1.0, green=green) for k in range(1, 7)]
    two = [scripted_interval(plan, k, 1.7, green=green) for k in range(1, 7)]
    whole = _report(plan, [_both(a, b) for a, b in zip(one, two, strict=True)])
    merged = merge_reports([_report(plan, one), _report(plan, two)], ["one", "two"])

    for section in ("summary", "steps", "upstreams", "checks"):
        assert getattr(merged, section) == getattr(whole, section), section
    assert set(merged.upstreams) == {"blue", "green"}
    assert merged.summary.failed > 0  # the failed requests' durations are in play
    verdicts, want = _verdicts(merged), _verdicts(whole)
    assert {k: verdicts[k] for k in EXACT} == {k: want[k] for k in EXACT}
    kept = {k for k in verdicts if k not in EXACT}
    assert kept == set(KEPT)
    assert [t.recomputed for t in merged.thresholds] == [t not in kept for t in verdicts]


def test_an_expected_part_that_is_not_part_of_http_req_duration_is_refused() -> None:
    """The failed requests' durations are http_req_duration less its expected part: an
    edited report where that goes negative is named, never merged into made-up values."""
    good = read_report(BASE)
    h = good.histograms
    assert h is not None and h.total is not None
    total = replace(h.total, http_req_duration_expected=h.total.latency)  # other values, as many
    bad = replace(good, histograms=replace(h, total=total))
    with pytest.raises(
        ReportError, match=r"^b: \[histograms.total\].http_req_duration_expected: holds"
    ):
        merge_reports([good, bad], ["a", "b"])


def _scenario_report(plan: RunPlan, lanes: dict[str, list[Interval]]) -> Report:
    """A run of several scenarios: each lane's intervals its own RunModel, the whole run
    their sum, a group `::g` over the lanes' `home` step with a made-up group_duration."""
    models = {name: RunModel() for name in lanes}
    whole: list[Interval] = []
    for k in range(max(len(ivs) for ivs in lanes.values())):
        total = Interval(float(k), float(k + 1))
        for name, ivs in lanes.items():
            if k < len(ivs):
                models[name].add(ivs[k])
                total.add(ivs[k])
        total.lanes = {name: ivs[k] for name, ivs in lanes.items() if k < len(ivs)}
        whole.append(total)
    report = _report(plan, whole)
    seconds = report.meta.duration_s
    hows = {"browse": ScenarioSection(executor="constant-arrival-rate", exec="browse")}
    scenarios, hists = lane_tables(hows, models, seconds)
    durations = merge_histograms(
        h.iteration_duration for h in [iv for ivs in lanes.values() for iv in ivs]
    )
    group_of = {(name, "home"): "::g" for name in lanes}
    groups, group_hists = group_tables(models, group_of, {"::g": (durations, 1234)}, seconds)
    assert report.histograms is not None
    return replace(
        report,
        scenarios=scenarios,
        groups=groups,
        histograms=replace(report.histograms, scenarios=hists, groups=group_hists),
    )


def test_a_merge_of_scenario_reports_is_the_report_of_one_run_of_every_scenario() -> None:
    plan = _plan(PER_SCENARIO + PER_GROUP)

    def lane(scale: float, k: int) -> Interval:
        iv = scripted_interval(plan, k, scale)
        iv.checks = {}  # checks per lane are tested with the run model's own keys
        iv.dropped = k
        return iv

    one = {
        "browse": [lane(1.0, k) for k in range(1, 5)],
        "buy": [lane(0.5, k) for k in range(1, 5)],
    }
    two = {"browse": [lane(1.7, k) for k in range(1, 5)], "(setup)": [lane(0.3, 1)]}
    both = {
        "browse": [_both(a, b) for a, b in zip(one["browse"], two["browse"], strict=True)],
        "buy": one["buy"],
        "(setup)": two["(setup)"],
    }
    first, second = _scenario_report(plan, one), _scenario_report(plan, two)
    merged = merge_reports([first, second], ["one", "two"])
    whole = _scenario_report(plan, both)

    assert merged.scenarios.keys() == {"browse", "buy", "(setup)"}
    for name in merged.scenarios:
        assert merged.scenarios[name] == replace(
            whole.scenarios[name],
            ended_s=max(r.scenarios[name].ended_s for r in (first, second) if name in r.scenarios),
        ), name
    assert merged.scenarios["browse"].executor == "constant-arrival-rate"
    assert merged.scenarios["browse"].dropped_iterations == 2 * (1 + 2 + 3 + 4)
    assert merged.groups["::g"] == replace(
        whole.groups["::g"], group_duration=merged.groups["::g"].group_duration
    )
    assert merged.groups["::g"].requests == whole.groups["::g"].requests > 0
    assert merged.groups["::g"].group_duration.max == whole.groups["::g"].group_duration.max
    again = parse_report(merged.table())
    assert again.scenarios == merged.scenarios and again.groups == merged.groups
    assert merge_warnings([first, second], ["one", "two"]) == [
        "scenario buy not in two: its section holds the others'",
        "scenario (setup) not in one: its section holds the others'",
    ]
    verdicts, want = _verdicts(merged), _verdicts(whole)
    assert {k: verdicts[k] for k in PER_SCENARIO} == {k: want[k] for k in PER_SCENARIO}
    assert {verdicts[k][0] for k in PER_SCENARIO} == {True, False}  # both kinds judged
    assert all(t.recomputed for t in merged.thresholds if t.metric.find("scenario:") > 0)
    g = merged.groups["::g"]
    setup = merged.scenarios["(setup)"]
    assert [verdicts[k][1] for k in PER_GROUP] == [
        g.requests,
        round(g.failed / g.requests, 6),
        pytest.approx(g.group_duration.max, abs=1e-3),
        setup.requests,
    ]
    assert setup.requests > 0 and g.failed > 0
    assert all(t.recomputed for t in merged.thresholds if t.metric.find("group:") > 0)
