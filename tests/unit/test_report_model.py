"""The typed report (format 3): one parser, one writer, room for sections to come."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import tomli_w

from engine.load.model import LatencyStats
from engine.report.deploy_section import (
    ColorWindow,
    DeployEventRow,
    DeployRecord,
    FleetRow,
    Outcome,
    StepRow,
    deploy_table,
)
from engine.report.document import read_report, write_toml
from engine.report.model import (
    FORMAT,
    Checks,
    GroupSection,
    Histograms,
    Meta,
    Report,
    ReportError,
    ReportHistograms,
    ScenarioSection,
    Summary,
    parse_report,
)
from tests.report_fixtures import BASE, NEW


@pytest.mark.parametrize("path", [BASE, NEW])
def test_a_report_read_and_written_again_is_the_same_report(path: Path) -> None:
    saved = tomllib.loads(path.read_text(encoding="utf-8"))
    report = read_report(path)
    assert report.table() == saved
    assert parse_report(report.table()) == report
    assert saved["meta"]["format"] == FORMAT == 3


def test_a_section_it_does_not_know_is_kept_and_written_back(tmp_path: Path) -> None:
    """A later issue adds a table without a new format number; this Surge keeps it."""
    data = tomllib.loads(BASE.read_text(encoding="utf-8"))
    data["annotations"] = {"login": {"iterations": 12, "weight": 0.5}}
    data["server_metrics"] = [{"t": 1.0, "cpu": 40.5}]
    path = tmp_path / "later.toml"
    path.write_text(tomli_w.dumps(data))
    report = read_report(path)
    assert report.extra == {
        "annotations": {"login": {"iterations": 12, "weight": 0.5}},
        "server_metrics": [{"t": 1.0, "cpu": 40.5}],
    }
    again = tomllib.loads(write_toml(report, tmp_path / "again.toml").read_text())
    assert again["annotations"] == data["annotations"]
    assert again["server_metrics"] == data["server_metrics"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["summary"].update(requests="many"), "[summary] has no requests count"),
        (lambda d: d["summary"].update(failed="some"), "summary.failed is not a number: 'some'"),
        (
            lambda d: d["summary"]["latency_ms"].update(p95=[1]),
            "summary.latency_ms.p95 is not a number",
        ),
        (lambda d: d["steps"].update(home=3), "[steps.home] is not a table"),
        (lambda d: d.update(thresholds={}), "thresholds is not a list"),
        (lambda d: d["meta"].update(duration_s="1s"), "meta.duration_s is not a number"),
        (lambda d: d.update(deploy={"outcome": "won"}), "deploy.outcome 'won' is unknown"),
    ],
)
def test_a_field_of_the_wrong_type_is_one_line_naming_the_file_and_key(
    tmp_path: Path, edit: object, message: str
) -> None:
    data = tomllib.loads(BASE.read_text(encoding="utf-8"))
    assert callable(edit)
    edit(data)
    path = tmp_path / "edited.toml"
    path.write_text(tomli_w.dumps(data))
    with pytest.raises(ReportError) as caught:
        read_report(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text


def test_a_missing_figure_reads_zero_and_a_missing_table_none() -> None:
    report = parse_report({"meta": {"format": 2}, "summary": {"requests": 5}})
    assert report.summary.requests == 5 and report.summary.latency.p95 == 0.0
    assert report.summary.checks_rate is None and report.histograms is None
    assert report.meta.ended == "finished"  # from before `ended` was kept: derived
    assert report.deploy is None and report.extra == {}


def test_the_deploy_record_reads_back_as_it_was_written() -> None:
    window = ColorWindow(900, 9, 5.5, 6.25, 7.125)
    record = DeployRecord(
        strategy="canary",
        router="surge proxy",
        start="2026-01-01T00:00:00+00:00",
        end="2026-01-01T00:00:10+00:00",
        outcome=Outcome.ROLLED_BACK,
        blue_weight=100,
        green_weight=0,
        on_exit="hold",
        steps=(StepRow(5.0, 1, 90, 10, 5.0, window, window, "failed", "p99 too high"),),
        events=(DeployEventRow(1.5, "step", "90:10"),),
        notes=("a note",),
        instances={"blue-0": {"requests": 10, "status_5xx": 0, "connection_errors": 0}},
        fleet=FleetRow(4, ((0.0, 3, 0), (2.5, 3, 1))),
    )
    table = {"meta": {}, "summary": {"requests": 0}, "deploy": deploy_table(record)}
    assert parse_report(table).deploy == record
    unconfirmed = DeployRecord("bluegreen", "r", "", "", Outcome.ROUTER_FAILED, None, None)
    table["deploy"] = deploy_table(unconfirmed)
    assert parse_report(table).deploy == unconfirmed


def test_a_report_built_in_memory_writes_format_3(tmp_path: Path) -> None:
    path = write_toml(Report(Meta(name="empty"), Summary()), tmp_path / "r.toml")
    assert tomllib.loads(path.read_text())["meta"]["format"] == FORMAT
    assert read_report(path).meta.name == "empty"


def _scenario_report() -> Report:
    """A report of two scenarios, setup and a group, with every new table filled."""
    stats = LatencyStats(min=1.0, mean=2.5, p50=2.0, p90=4.0, p95=4.0, p99=4.0, max=4.0)
    browse = ScenarioSection(
        requests=8,
        failed=1,
        error_rate=0.125,
        rps=2.0,
        http_req_duration=stats,
        http_req_duration_expected=stats,
        latency=stats,
        status={"200": 7, "500": 1},
        executor="constant-arrival-rate",
        executor_options={"executor": "constant-arrival-rate", "rate": 2, "timeUnit": "1s"},
        exec="browse",
        tags={"kind": "read"},
        iterations=8,
        interrupted_iterations=1,
        dropped_iterations=3,
        iteration_duration=stats,
        ended_s=4.0,
    )
    buy = ScenarioSection(requests=2, executor="ramping-vus", start_time_s=2.0, ended_s=6.5)
    setup = ScenarioSection(requests=1, rps=0.1, checks={"logged in": Checks(1, 0)})
    checkout = GroupSection(
        requests=2, group_duration=stats, checks={"paid": Checks(2, 0), "fast": Checks(1, 1)}
    )
    hist = Histograms(latency="HISTFAKE", latency_sum_us=10, iteration_duration="X")
    return Report(
        Meta(name="shop", executor="scenarios"),
        Summary(requests=11),
        scenarios={"browse": browse, "buy": buy, "(setup)": setup},
        groups={"::checkout": checkout, "::checkout::pay": GroupSection()},
        histograms=ReportHistograms(
            total=hist,
            scenarios={"browse": hist, "buy": hist},
            groups={"::checkout": Histograms(group_duration="G", group_duration_sum_us=7)},
        ),
    )


def test_scenario_and_group_sections_read_back_as_they_were_written(tmp_path: Path) -> None:
    report = _scenario_report()
    path = write_toml(report, tmp_path / "scenarios.toml")
    saved = tomllib.loads(path.read_text())
    assert read_report(path) == report
    assert saved["scenarios"]["browse"]["tags"] == {"kind": "read"}
    assert saved["scenarios"]["buy"]["start_time_s"] == 2.0
    assert saved["scenarios"]["browse"]["iteration_duration_ms"]["p95"] == 4.0
    assert saved["groups"]["::checkout"]["group_duration_ms"]["mean"] == 2.5
    assert saved["groups"]["::checkout"]["checks"]["fast"] == {"passes": 1, "fails": 1}
    assert "checks" not in saved["groups"]["::checkout::pay"]
    assert "checks" not in saved["scenarios"]["browse"]
    assert saved["scenarios"]["(setup)"]["checks"]["logged in"] == {"passes": 1, "fails": 0}
    assert saved["histograms"]["groups"]["::checkout"]["group_duration_sum_us"] == 7
    assert report.extra == {}


def test_a_run_without_scenarios_writes_no_new_table() -> None:
    """The one `default` scenario and no groups: the tables of before, key for key."""
    saved = tomllib.loads(BASE.read_text(encoding="utf-8"))
    table = read_report(BASE).table()
    assert "scenarios" not in table and "groups" not in table
    assert set(table["histograms"]) == set(saved["histograms"]) == {"total", "steps", "upstreams"}


def test_a_scenario_figure_of_the_wrong_type_names_its_key() -> None:
    data = _scenario_report().table()
    data["scenarios"]["browse"]["dropped_iterations"] = "lots"
    with pytest.raises(ReportError, match=r"scenarios\.browse\.dropped_iterations is not a num"):
        parse_report(data, "r.toml")
    data = _scenario_report().table()
    data["groups"]["::checkout"]["checks"]["paid"] = 3
    with pytest.raises(ReportError, match=r"groups\.::checkout\.checks\.paid\] is not a table"):
        parse_report(data, "r.toml")
