"""A report of several scenarios: compared scenario by scenario, exported as k6 does."""

from __future__ import annotations

from engine.load.model import LatencyStats
from engine.report.compare import compare
from engine.report.model import GroupSection, Meta, Report, ScenarioSection, Summary


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
            "buy": _scenario(80.0, dropped_iterations=7),
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
        "scenario old only in BASE: not compared",
        "scenario new only in NEW: not compared",
    ]


def test_a_lone_scenario_is_not_the_total_twice_but_a_lone_group_is_compared() -> None:
    """One `default` scenario beside groups is the whole run again; a group is a part."""
    group = GroupSection(requests=5, group_duration=LatencyStats(p95=5.0))
    base = _report({"default": _scenario(10.0)}, g=group)
    new = _report({"default": _scenario(20.0)}, g=group)
    assert {r.section for r in compare(base, new).rows} == {"total", "group ::g"}
