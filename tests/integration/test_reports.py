"""`surge report show|compare|merge|export` on real reports of real runs, plus table tests.

Three runs are made once for the module, at the same time: two of 1.5 s against a
server that answers in 10 ms (side by side, as on two machines: the merge pair) and
one of 3.5 s against a server that answers in 30 ms (the regression), long enough
for well over 1000 requests, since p99 is judged on no fewer. The load stays light
(about 3000 requests/s in all) so that a busy CI machine does not blur 10 ms and
30 ms: every assertion leans on the servers' fixed delays, not on tight timings.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from engine.load.metrics import decode_histogram, encode_histogram, new_histogram
from engine.load.model import LatencyStats, Row
from engine.report.compare import (
    COUNT,
    FIGURES,
    MS,
    PER_S,
    RATIO,
    Figure,
    compare,
    judge,
    parse_tolerance,
)
from engine.report.document import FORMAT, ReportError, read_report, write_toml
from engine.report.export import summary_data, summary_json, timeline_csv
from engine.report.merge import merge_reports, merge_warnings
from engine.report.model import Meta, Report, Summary, parse_report
from engine.report.show import log_ticks, render_plots
from tests.conftest import ROOT, run_surge, spawn_sut, surge_cmd
from tui.cli.main import main as cli_main

PROFILE = """\
name = "two-steps"
base_url = "http://127.0.0.1:1"

[[endpoints]]
name = "home"
path = "/"
weight = 1
checks = [{ status = 200 }]

[[endpoints]]
name = "echo"
path = "/echo?msg=hi"
weight = 1
"""

THRESHOLDS = (
    "http_req_duration:min<25",  # the 10 ms server passes, the 30 ms one cannot
    "http_req_duration{step:home}:p(99)<1000",
    "http_reqs:count>10",
    "checks:rate>0.99",
    "http_req_duration:p(95)<1000 over 1s",  # a window: not re-evaluable after a merge
)


@dataclass(frozen=True)
class Runs:
    fast_a: Path
    fast_b: Path
    slow: Path
    folder: Path


VUS = 16


def _run_args(url: str, duration: str, report: Path, profile: Path) -> list[str]:
    args = ["run", str(profile), "--base-url", url, "--vus", str(VUS), "--duration", duration]
    for t in THRESHOLDS:
        args += ["--threshold", t]
    return [*args, "--report", str(report)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    folder = tmp_path_factory.mktemp("reports")
    profile = folder / "profile.toml"
    profile.write_text(PROFILE)
    servers = [spawn_sut("--latency", ms, "--color", "blue") for ms in ("10ms", "30ms")]
    (_, fast), (_, slow) = servers
    out = Runs(folder / "fast_a.toml", folder / "fast_b.toml", folder / "slow.toml", folder)
    plan = ((fast, "1.5s", out.fast_a), (fast, "1.5s", out.fast_b), (slow, "3.5s", out.slow))
    jobs = [
        subprocess.Popen(
            surge_cmd(*_run_args(url, duration, path, profile)),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for url, duration, path in plan
    ]
    try:
        results = [(job.wait(timeout=60), job.communicate()[1]) for job in jobs]
        # The slow run fails its min<25 threshold: exit 99, and still a report.
        assert [code for code, _ in results] == [0, 0, 99], results
        yield out
    finally:
        for proc, _ in servers:
            proc.terminate()
            proc.wait(timeout=5)


def _surge(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return run_surge(*(str(a) for a in args))


# ---------------------------------------------------------------- compare (CLI)


def test_a_report_compared_with_itself_shows_no_change_and_exits_0(runs: Runs) -> None:
    proc = _surge("report", "compare", runs.fast_a, runs.fast_a, "--fail-on-regression")
    assert proc.returncode == 0, proc.stderr
    assert "verdict: no regression beyond 10%" in proc.stdout
    assert "warning" not in proc.stdout
    assert "worse" not in proc.stdout and "better" not in proc.stdout
    data = read_report(runs.fast_a)
    result = compare(data, data, 0.0)
    assert result.rows and not result.regressed
    assert {r.direction for r in result.rows} == {"same"}
    assert {r.change for r in result.rows} == {0.0}
    assert {r.section for r in result.rows} == {"total", "step home", "step echo"}


# Tail latencies of 1.5 s runs judged against each other: alone, not beside the
# parallel part's CPU (a loaded fast run's p99 read as worse than the slow one's).
@pytest.mark.serial
def test_a_30ms_server_after_a_10ms_one_fails_with_exit_1_naming_the_figures(
    runs: Runs,
) -> None:
    proc = _surge("report", "compare", runs.fast_a, runs.slow, "--fail-on-regression")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    verdict = proc.stdout.rsplit("verdict:", 1)[1]
    assert "REGRESSION beyond 10%" in verdict
    for figure in ("latency p95", "latency p99", "rps", "step home latency p95"):
        assert figure in verdict
    assert "error rate" not in verdict  # no errors in either run
    # Different servers (ports): compared with a warning, not refused.
    assert "warning: different target" in proc.stdout
    assert "█ STEP HOME" in proc.stdout and "█ STEP ECHO" in proc.stdout  # compare's sections
    assert "different executor options: duration 1.5 → 3.5" in proc.stdout
    assert "█ UPSTREAM" not in proc.stdout  # the lone upstream is the total again


def test_a_regression_without_fail_on_regression_is_reported_but_exits_0(runs: Runs) -> None:
    proc = _surge("report", "compare", runs.fast_a, runs.slow, "--tolerance", "50%")
    assert proc.returncode == 0
    assert "REGRESSION beyond 50%" in proc.stdout


# Tail latencies of 1.5 s runs judged against each other: alone, not beside the
# parallel part's CPU (a loaded fast run's p99 read as worse than the slow one's).
@pytest.mark.serial
def test_an_improvement_is_better_and_passes(runs: Runs) -> None:
    proc = _surge("report", "compare", runs.slow, runs.fast_a, "--fail-on-regression")
    assert proc.returncode == 0, proc.stdout
    assert "better" in proc.stdout and "no regression" in proc.stdout


def test_a_bad_tolerance_is_bad_input(runs: Runs) -> None:
    proc = _surge("report", "compare", runs.fast_a, runs.fast_a, "--tolerance", "10")
    assert proc.returncode == 2
    assert "ambiguous '10': write 10% or 0.1" in proc.stderr


# ------------------------------------------------------------------------ merge


def _hist_of_both(reports: list[dict[str, Any]], *path: str) -> LatencyStats:
    """The reference: one histogram of both runs' values, built without engine.report.merge."""
    h, total_us = new_histogram(), 0
    for r in reports:
        table: Any = r["histograms"]
        for key in path:
            table = table[key]
        h.add(decode_histogram(table["latency"]))
        total_us += table.get("latency_sum_us", 0)
    return LatencyStats.of(h, total_us)


PERCENTILES = ("min", "p50", "p90", "p95", "p99", "p99_9", "max")


def test_merging_two_reports_gives_the_percentiles_of_one_histogram_of_both(
    runs: Runs,
) -> None:
    out = runs.folder / "merged.toml"
    proc = _surge("report", "merge", runs.fast_a, runs.fast_b, "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert f"merged 2 reports into {out}" in proc.stdout
    a, b, merged = (read_report(p).table() for p in (runs.fast_a, runs.fast_b, out))
    for section, path in (
        (merged["summary"], ("total",)),
        (merged["steps"]["home"], ("steps", "home")),
        (merged["upstreams"]["blue"], ("upstreams", "blue")),
    ):
        want = _hist_of_both([a, b], *path).as_dict()
        assert {k: section["latency_ms"][k] for k in PERCENTILES} == {
            k: want[k] for k in PERCENTILES
        }
    s, sa, sb = merged["summary"], a["summary"], b["summary"]
    assert s["requests"] == sa["requests"] + sb["requests"]
    assert s["status"] == {"200": sa["status"]["200"] + sb["status"]["200"]}
    assert s["iterations"] == sa["iterations"] + sb["iterations"]
    duration = max(a["meta"]["duration_s"], b["meta"]["duration_s"])
    assert s["rps"] == pytest.approx(s["requests"] / duration, abs=1e-3)
    assert s["vus_max"] == 2 * VUS  # two runs side by side
    assert merged["meta"]["merged_from"] == [str(runs.fast_a), str(runs.fast_b)]
    assert merged["meta"]["aborted"] is False
    assert len(merged["timeline"]) == max(len(a["timeline"]), len(b["timeline"]))
    first = merged["timeline"][0]
    assert first["requests"] == a["timeline"][0]["requests"] + b["timeline"][0]["requests"]
    verdicts = {t["expression"]: (t["ok"], t["recomputed"]) for t in merged["thresholds"]}
    assert verdicts == {
        "min<25": (True, True),
        "p(99)<1000": (True, True),
        "count>10": (True, True),
        "rate>0.99": (True, True),
        "p(95)<1000 over 1s": (True, False),
    }
    shown = _surge("report", "show", out, "--no-plots")
    assert shown.returncode == 0 and "merged from 2 runs" in shown.stdout


def test_merged_checks_add_up(runs: Runs) -> None:
    a, b = read_report(runs.fast_a), read_report(runs.fast_b)
    merged = merge_reports([a, b])
    assert merged.checks.keys() == a.checks.keys()
    for name, pf in merged.checks.items():
        assert (pf.passes, pf.fails) == (
            a.checks[name].passes + b.checks[name].passes,
            a.checks[name].fails + b.checks[name].fails,
        )


def _synthetic(values_us: list[int], name: str) -> dict[str, Any]:
    """A minimal valid report of known values: what a real run holds, and nothing else."""
    h = new_histogram()
    for v in values_us:
        h.record_value(v)
    stats = LatencyStats.of(h, sum(values_us)).as_dict()
    figures = {"requests": len(values_us), "failed": 0, "latency_ms": stats}
    figures |= {"http_req_duration_ms": stats, "status": {"200": len(values_us)}, "errors": {}}
    hist = {"latency": encode_histogram(h), "http_req_duration": encode_histogram(h)}
    hist |= {"latency_sum_us": sum(values_us), "http_req_duration_sum_us": sum(values_us)}
    return {
        "meta": {"format": FORMAT, "name": name, "duration_s": 1.0, "aborted": False},
        "summary": figures | {"iterations": len(values_us)},
        "histograms": {"total": hist | {"iteration_duration": encode_histogram(h)}},
    }


def test_merge_is_exact_on_known_values(tmp_path: Path) -> None:
    fast = [1000 + 7 * i for i in range(500)]  # 1 ms and a bit
    slow = [40_000 + 311 * i for i in range(37)]  # a slow tail, 40-51 ms
    merged = merge_reports(
        [parse_report(_synthetic(fast, "a")), parse_report(_synthetic(slow, "b"))]
    )
    every = new_histogram()
    for v in fast + slow:
        every.record_value(v)
    assert merged.summary.latency.as_dict() == LatencyStats.of(every, sum(fast + slow)).as_dict()
    assert merged.summary.latency.mean == round(sum(fast + slow) / 537 / 1000, 3)
    assert merged.summary.requests == 537
    assert merged.summary.rps == 537.0
    assert read_report(write_toml(merged, tmp_path / "m.toml")).summary.requests == 537


@pytest.mark.parametrize(
    ("second_start", "warned"),
    [("2026-01-01T10:00:01+00:00", False), ("2026-01-01T10:05:00+00:00", True)],
)
def test_merging_runs_that_did_not_overlap_is_warned(second_start: str, warned: bool) -> None:
    a, b = _synthetic([1000], "a"), _synthetic([1000], "b")
    a["meta"]["start"], b["meta"]["start"] = "2026-01-01T10:00:00+00:00", second_start
    a["meta"]["duration_s"] = b["meta"]["duration_s"] = 60.0
    overlap = "the runs did not overlap in time: rps assumes runs made in parallel"
    assert (overlap in merge_warnings([parse_report(a), parse_report(b)], ["a", "b"])) is warned


def test_merging_a_report_without_histograms_is_a_clear_error() -> None:
    broken = _synthetic([1000], "b")
    del broken["histograms"]
    with pytest.raises(ReportError, match=r"b: no \[histograms\] table"):
        merge_reports([parse_report(_synthetic([1000], "a")), parse_report(broken)], ["a", "b"])


# ----------------------------------------------------------------------- export


def read_summary_json(text: str) -> dict[str, Any]:
    data = json.loads(text)
    assert isinstance(data, dict), "not a Surge summary: expected a JSON object"
    return data


def read_timeline_csv(text: str) -> list[dict[str, Any]]:
    """Numbers come back as int or float exactly as written."""
    rows = list(csv.reader(io.StringIO(text)))
    return [dict(zip(rows[0], map(_number, cells), strict=True)) for cells in rows[1:]]


def _number(cell: str) -> int | float:
    try:
        return int(cell)
    except ValueError:
        return float(cell)


def test_export_round_trips(runs: Runs, tmp_path: Path) -> None:
    report = read_report(runs.fast_a)
    json_file = tmp_path / "summary.json"
    proc = _surge("report", "export", runs.fast_a, "--format", "json", "-o", json_file)
    assert proc.returncode == 0, proc.stderr
    assert read_summary_json(json_file.read_text()) == summary_data(report)
    assert "histograms" not in json_file.read_text()
    proc = _surge("report", "export", runs.fast_a, "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    header = proc.stdout.splitlines()[0].split(",")
    assert header == list(report.table()["timeline"][0])
    assert read_timeline_csv(proc.stdout) == report.table()["timeline"]
    merged = merge_reports([report, read_report(runs.slow)])
    assert read_summary_json(summary_json(merged)) == summary_data(merged)
    assert read_timeline_csv(timeline_csv(merged)) == merged.table()["timeline"]


def test_an_empty_timeline_exports_a_header() -> None:
    text = timeline_csv(Report(Meta(), Summary()))
    assert text.startswith("t,dt,requests,")
    assert read_timeline_csv(text) == []


# ------------------------------------------------------------------------- show


def test_show_prints_the_summary_and_the_timeline_plots(runs: Runs) -> None:
    proc = _surge("report", "show", runs.slow)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "█ THRESHOLDS" in out and "✗ 'min<25' min=" in out
    assert "█ TOTAL RESULTS" in out
    table = {ln.split()[0]: ln.split()[1:] for ln in out.splitlines() if ln.startswith("    ")
             and ln.split()}  # fmt: skip
    assert table["HTTP"] == ["(ms)", "avg", "min", "med", "p90", "p95", "p99", "p99.9", "max"]
    for name in ("http_req_duration", "{expected_response:true}", "http_req_waiting"):
        assert len(table[name]) == 8 and all(float(x) >= 0 for x in table[name]), name
    assert "latency (from due time)" in out
    assert "█ STEPS" in out and "█ UPSTREAMS" in out
    assert len(table["home"]) == 7 and len(table["blue"]) == 7  # reqs, req/s, failed, p50..max
    assert max(len(ln) for ln in out.split("█ RESPONSE TIME")[0].splitlines()) <= 80
    assert f"constant-vus: {VUS} VUs for 3.5s" in out
    for title in ("latency (log scale)", "throughput", "errors", "virtual users"):
        assert title in out
    assert "20ms" in out or "50ms" in out  # the log axis is labelled in ms
    assert "\x1b[" not in out  # NO_COLOR, and not a terminal


def test_plots_survive_an_empty_or_idle_timeline() -> None:
    assert "no timeline" in render_plots([], width=80)
    idle = [Row(**dict.fromkeys(Row.__dataclass_fields__, 0) | {"t": 1.0})] * 2
    assert "virtual users" in render_plots(idle, width=80)


@pytest.mark.parametrize(
    ("lo", "hi", "want"),
    [
        (0.45, 0.68, [0.2, 0.5, 1.0]),
        (9.5, 31.0, [5.0, 10.0, 20.0, 50.0]),
        (0.3, 5000.0, [0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0]),
    ],
)
def test_log_ticks_span_the_values(lo: float, hi: float, want: list[float]) -> None:
    assert log_ticks(lo, hi) == pytest.approx(want)


# ---------------------------------------------- damaged and future-format reports


def _damaged(folder: Path, source: Path) -> dict[str, Path]:
    text = source.read_text()
    files = {
        "truncated": text[: len(text) // 2] + '\n[meta\nformat = "',
        "future": text.replace(f"format = {FORMAT}\n", "format = 99\n", 1),
        "not a report": 'title = "a TOML file, not a report"\n',
        "bad histogram": text.replace('latency = "HISTF', 'latency = "XXXX', 1),
    }
    out = {}
    for name, body in files.items():
        out[name] = folder / f"{name.replace(' ', '_')}.toml"
        out[name].write_text(body)
    return out


@pytest.mark.parametrize(
    ("case", "command", "message"),
    [
        ("truncated", "show", "not a valid report (damaged TOML"),
        ("truncated", "compare", "not a valid report (damaged TOML"),
        ("truncated", "merge", "not a valid report (damaged TOML"),
        ("truncated", "export", "not a valid report (damaged TOML"),
        ("future", "show", "report format 99 is not supported"),
        ("future", "compare", "report format 99 is not supported"),
        ("future", "merge", "report format 99 is not supported"),
        ("future", "export", "report format 99 is not supported"),
        ("not a report", "show", "not a Surge report"),
        ("bad histogram", "merge", "damaged histogram"),
        ("missing", "compare", "no such file"),
    ],
)
def test_damaged_and_future_reports_exit_2_with_one_line(
    runs: Runs,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    command: str,
    message: str,
) -> None:
    """In-process through `surge`'s own main (the exit-code mapping is what matters)."""
    bad = _damaged(tmp_path, runs.fast_a).get(case, tmp_path / "missing.toml")
    good = runs.fast_a
    args: dict[str, list[str | Path]] = {
        "show": ["show", bad],
        "compare": ["compare", good, bad],
        "merge": ["merge", good, bad, "-o", tmp_path / "out.toml"],
        "export": ["export", bad, "--format", "csv"],
    }
    code = cli_main(["report", *(str(a) for a in args[command])])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("surge report: error: "), err
    assert message in lines[0] and str(bad) in lines[0]
    assert not (tmp_path / "out.toml").exists()


def test_a_future_report_is_one_line_and_no_traceback_end_to_end(
    runs: Runs, tmp_path: Path
) -> None:
    bad = _damaged(tmp_path, runs.fast_a)["future"]
    proc = _surge("report", "compare", runs.fast_a, bad, "--fail-on-regression")
    assert proc.returncode == 2
    assert proc.stderr == (
        f"surge report: error: {bad}: report format 99 is not supported by this Surge "
        f"(reads formats 1, 2, {FORMAT}); upgrade Surge to read it\n"
    )


# ------------------------------------------------------------- compare (tables)

P95 = next(f for f in FIGURES if f.name == "latency p95")
P50 = next(f for f in FIGURES if f.name == "latency p50")
RPS = next(f for f in FIGURES if f.name == "rps")
ERRORS = next(f for f in FIGURES if f.name == "error rate")
REQUESTS = next(f for f in FIGURES if f.name == "requests")


@pytest.mark.parametrize(
    ("fig", "base", "new", "tolerance", "direction", "regression"),
    [
        (P95, 100.0, 100.0, 0.1, "same", False),
        (P95, 100.0, 109.0, 0.1, "same", False),  # within tolerance: noise
        (P95, 100.0, 111.0, 0.1, "worse", True),
        (P95, 100.0, 80.0, 0.1, "better", False),
        (P95, 100.0, 100.5, 0.0, "worse", True),  # tolerance 0: any worsening counts
        (P95, 0.0, 5.0, 0.1, "worse", True),  # from nothing: no relative change
        (P50, 100.0, 150.0, 0.1, "worse", False),  # shown, but p50 never fails a build
        (RPS, 1000.0, 850.0, 0.1, "worse", True),  # throughput: lower is worse
        (RPS, 1000.0, 1200.0, 0.1, "better", False),
        (RPS, 1000.0, 950.0, 0.1, "same", False),
        (ERRORS, 0.0, 0.0005, 0.1, "same", False),  # +0.05 pp from clean: noise
        (ERRORS, 0.0, 0.01, 0.1, "worse", True),  # +1 pp from clean: regression
        (ERRORS, 0.05, 0.054, 0.1, "same", False),  # +8% relative
        (ERRORS, 0.05, 0.06, 0.1, "worse", True),  # +20% relative
        (ERRORS, 0.02, 0.0, 0.1, "better", False),
        (REQUESTS, 1000.0, 1500.0, 0.1, "changed", False),  # no better direction
        (REQUESTS, 1000.0, 1050.0, 0.1, "same", False),
    ],
)
def test_judge(
    fig: Figure, base: float, new: float, tolerance: float, direction: str, regression: bool
) -> None:
    _, got_direction, got_regression = judge(fig, base, new, tolerance)
    assert (got_direction, got_regression) == (direction, regression)


def test_gated_figures_are_exactly_p95_p99_latency_error_rate_and_rps() -> None:
    gated = {f.name for f in FIGURES if f.gated}
    assert gated == {"latency p95", "latency p99", "error rate", "rps"}
    assert {f.unit for f in FIGURES} >= {MS, PER_S, RATIO, COUNT}


def _figs(
    p95: float, rps: float = 100.0, error_rate: float = 0.0, requests: int = 10_000
) -> dict[str, Any]:
    figs = {"requests": requests, "rps": rps, "error_rate": error_rate}
    return figs | {"latency_ms": {"p95": p95}}


def _report(**parts: Any) -> dict[str, Any]:
    meta = {"executor": "constant-vus", "target": "http://a", "test_type": ""}
    return {"meta": meta | parts.pop("meta", {}), "summary": _figs(10.0)} | parts


@pytest.mark.parametrize(
    ("base", "new", "warnings"),
    [
        (_report(), _report(), []),
        (
            _report(),
            _report(meta={"executor": "ramping-vus", "target": "http://b"}),
            [
                "different executor: constant-vus (BASE) vs ramping-vus (NEW)",
                "different target: http://a (BASE) vs http://b (NEW)",
            ],
        ),
        (
            _report(meta={"executor_options": {"vus": 4}}),
            _report(meta={"executor_options": {"vus": 8}, "test_type": "stress"}),
            [
                "different test type: - (BASE) vs stress (NEW)",
                "different executor options: vus 4 → 8",
            ],
        ),
        (
            _report(),
            _report(meta={"aborted": True, "stop_reason": "interrupted (Ctrl+C)"}),
            ["NEW run stopped by you (interrupted (Ctrl+C))"],
        ),
        (
            _report(steps={"a": _figs(1.0), "b": _figs(1.0)}),
            _report(steps={"a": _figs(1.0), "c": _figs(1.0)}),
            ["step b only in BASE: not compared", "step c only in NEW: not compared"],
        ),
    ],
)
def test_compare_warns_but_still_compares(
    base: dict[str, Any], new: dict[str, Any], warnings: list[str]
) -> None:
    result = compare(parse_report(base), parse_report(new), 0.1)
    assert list(result.warnings) == warnings
    # still compared (a typed report has every figure: the ones not given read 0)
    assert {r.figure for r in result.rows if r.section == "total"} >= {
        "requests",
        "rps",
        "error rate",
        "latency p95",
    }


def test_compare_judges_each_shared_step_and_upstream() -> None:
    base = _report(
        steps={"home": _figs(10.0), "login": _figs(50.0)},
        upstreams={"blue": _figs(10.0), "green": _figs(10.0)},
    )
    new = _report(
        steps={"home": _figs(10.0), "login": _figs(80.0)},
        upstreams={"blue": _figs(10.0), "green": _figs(10.0, rps=50.0)},
    )
    result = compare(parse_report(base), parse_report(new), 0.1)
    assert [r.label for r in result.regressions] == ["step login latency p95", "upstream green rps"]
    assert result.verdict == (
        "REGRESSION beyond 10%: step login latency p95 +60.0%, upstream green rps -50.0%"
    )


def test_a_lone_step_is_not_the_total_twice() -> None:
    base = _report(steps={"GET /": _figs(10.0)}, upstreams={"blue": _figs(10.0)})
    new = _report(steps={"GET /": _figs(20.0)}, upstreams={"blue": _figs(20.0)})
    assert {r.section for r in compare(parse_report(base), parse_report(new)).rows} == {"total"}


def test_error_rate_regression_from_zero_reads_in_points() -> None:
    base, new = _report(), _report()
    new["summary"] = _figs(10.0, error_rate=0.02)
    result = compare(parse_report(base), parse_report(new), 0.1)
    assert result.verdict == "REGRESSION beyond 10%: error rate +2.00pp"


@pytest.mark.parametrize(
    ("text", "value"),
    [("10%", 0.1), ("0.1", 0.1), ("0", 0.0), ("150%", 1.5), (" 5 % ", 0.05), ("0.05", 0.05)],
)
def test_parse_tolerance(text: str, value: float) -> None:
    assert parse_tolerance(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["10", "-5%", "ten", "nan", "inf%"])
def test_parse_tolerance_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_tolerance(text)


@pytest.mark.parametrize(
    ("requests", "judged"),
    [(199, False), (200, True)],  # p95 needs 10 requests beyond it: 200
)
def test_a_tail_percentile_on_too_few_requests_is_shown_but_not_judged(
    requests: int, judged: bool
) -> None:
    base = _report(steps={"a": _figs(10.0), "b": _figs(10.0)})
    new = _report(steps={"a": _figs(10.0), "b": _figs(50.0, requests=requests)})
    result = compare(parse_report(base), parse_report(new), 0.1)
    (row,) = [r for r in result.rows if r.label == "step b latency p95"]
    assert row.direction == "worse"
    assert row.regression is judged
    assert result.regressed is judged
    if judged:
        assert row.note == ""
    else:
        assert row.note == "too few requests to judge"
        assert result.verdict.endswith("(too few requests to judge: step b latency p95)")
