"""`surge run` end to end, as a user runs it: exit codes, summary, report, Ctrl+C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tomllib
from pathlib import Path

import pytest

from engine.report.document import read_report
from engine.report.export import summary_data
from tests.conftest import ROOT, run_surge, surge_cmd


def test_passing_thresholds_exit_0_and_write_a_report(shared_sut: str, tmp_path: Path) -> None:
    report = tmp_path / "out" / "run.toml"
    proc = run_surge(
        "run",
        shared_sut + "/",
        "--vus",
        "3",
        "--duration",
        "1s",
        "--threshold",
        "http_req_duration:p(95)<1000",
        "--threshold",
        "http_req_failed:rate<0.01",
        "--report",
        str(report),
    )
    assert proc.returncode == 0, proc.stderr
    assert "✓ 'p(95)<1000'" in proc.stdout
    assert "Traceback" not in proc.stderr
    data = read_report(report)
    assert data.meta.executor == "constant-vus"
    assert data.meta.aborted is False
    assert data.summary.requests > 10
    assert set(data.table()["summary"]["latency_ms"]) == {
        "min",
        "mean",
        "p50",
        "p90",
        "p95",
        "p99",
        "p99_9",
        "max",
    }
    assert [t.ok for t in data.thresholds] == [True, True]
    assert data.timeline and data.histograms and data.histograms.total
    assert data.histograms.total.latency
    assert not list(report.parent.glob(".*"))  # no temp file left behind


def test_json_outputs_read_back_to_what_the_report_holds(shared_sut: str, tmp_path: Path) -> None:
    """`--json` prints the summary as JSON; `--summary-export` and `report export --format
    k6` write k6's format, the same file from the run and from its saved report."""
    report, export = tmp_path / "run.toml", tmp_path / "k6.json"
    proc = run_surge(
        "run", shared_sut + "/", "--iterations", "40", "--vus", "2", "--json",
        "--report", str(report), "--summary-export", str(export),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    data = read_report(report)
    assert printed == summary_data(data)
    written = tomllib.loads(report.read_text())  # the JSON is the report as written
    assert printed == {k: v for k, v in written.items() if k not in ("timeline", "histograms")}
    assert printed["summary"]["requests"] == 40
    from_run = json.loads(export.read_text())
    assert from_run["metrics"]["http_reqs"]["count"] == 40
    again = run_surge("report", "export", str(report), "--format", "k6")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == from_run


def test_failing_threshold_exits_99(shared_sut: str) -> None:
    proc = run_surge(
        "run",
        shared_sut + "/",
        "--iterations",
        "20",
        "--threshold",
        "http_reqs:count>1000",
    )
    assert proc.returncode == 99, proc.stderr
    assert "✗ 'count>1000'" in proc.stdout


def test_exit_codes_for_error_rates_match_the_servers_failures(sut) -> None:
    url = sut("--error-rate", "0.2")
    proc = run_surge(
        "run",
        url + "/",
        "--iterations",
        "100",
        "--vus",
        "4",
        "--threshold",
        "http_req_failed:rate<0.1",
    )
    assert proc.returncode == 99
    assert "20 out of 100" in proc.stdout
    assert re.search(r"^\s+500\s+20\s+20\.0%", proc.stdout, re.M)  # status distribution


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "nope.toml"], "no such profile file"),
        (["run", "http://127.0.0.1:9/", "--threshold", "http_req_duration:p95<5"], "bad threshold"),
        (["run", "http://127.0.0.1:9/", "--stages", "30s"], "bad stage"),
        (["run", "ftp://127.0.0.1/"], "no such profile"),
        (["run", "http://127.0.0.1:9/", "--header", "no-colon"], "--header"),
        (["run", "http://127.0.0.1:9/", "--executor", "constant-arrival-rate"], "needs a rate"),
        (["run", "tests/fixtures/profiles/wrong_type.toml"], "wrong_type.toml:"),
        (["run", "http://127.0.0.1:9/", "--type", "chaos"], "invalid choice"),
    ],
)
def test_bad_input_exits_2_with_one_line(args: list[str], message: str) -> None:
    proc = run_surge(*args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unreachable_target_is_counted_not_a_crash() -> None:
    proc = run_surge("run", "http://127.0.0.1:9/", "--iterations", "5")
    assert proc.returncode == 0
    assert re.search(r"^\s+connection refused\s+5\s+100\.0%", proc.stdout, re.M)
    assert "Traceback" not in proc.stderr


def test_ctrl_c_stops_gracefully_and_writes_an_aborted_report(sut, tmp_path: Path) -> None:
    url = sut("--latency", "10ms")
    report = tmp_path / "partial.toml"
    proc = subprocess.Popen(
        surge_cmd(
            "run",
            url + "/",
            "--vus",
            "2",
            "--duration",
            "60s",
            "--report",
            str(report),
            "--progress",
            "always",
            "--interval",
            "200ms",
        ),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert proc.stderr is not None
    seen = b""
    while b"req/s" not in seen:  # the first live progress line: the run is under way
        chunk = os.read(proc.stderr.fileno(), 4096)
        assert chunk, "surge exited before showing progress"
        seen += chunk
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    data = tomllib.loads(report.read_text())
    assert data["meta"]["aborted"] is True
    assert data["meta"]["stop_reason"] == "interrupted (Ctrl+C)"
    assert data["summary"]["requests"] > 0
    assert data["meta"]["duration_s"] < 30
    assert b"stopped: interrupted" in out


def test_profile_with_a_test_type_runs_against_the_demo_server(shared_sut: str) -> None:
    proc = run_surge(
        "run",
        "profiles/example.toml",
        "--type",
        "smoke",
        "--base-url",
        shared_sut,
        "--duration",
        "1s",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "(smoke test)" in proc.stdout


def test_a_refused_target_is_said_first_counts_no_data_sent_and_exits_0() -> None:
    """As k6: no threshold, no failure exit; but the summary says it before anything."""
    proc = run_surge("run", "http://127.0.0.1:1/", "-u", "2", "-d", "1s", "-q")
    assert proc.returncode == 0, proc.stderr
    head = proc.stdout.splitlines()[:4]
    assert any("⚠ all " in line and "requests failed: connection refused at 127.0.0.1:1" in line
               for line in head), head  # fmt: skip
    assert re.search(r"^\s+data_sent\.+: 0 B ", proc.stdout, re.M)


def test_a_mistyped_flag_is_answered_with_the_closest_one() -> None:
    proc = run_surge("run", "http://127.0.0.1:9/", "--vsu", "3")
    assert proc.returncode == 2
    assert "unrecognized arguments: --vsu 3 (did you mean '--vus'?)" in proc.stderr


def test_a_duration_for_a_test_type_scales_its_shape(shared_sut: str, tmp_path: Path) -> None:
    """As in the console's form: `--type average -d 4s` runs the average shape in 4 s."""
    report = tmp_path / "r.toml"
    proc = run_surge(
        "run", shared_sut + "/", "--type", "average", "-d", "4s", "-u", "2", "-q",
        "--report", str(report),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    meta = read_report(report).meta
    assert meta.test_type == "average" and 3.8 <= meta.duration_s <= 5.0
    both = run_surge("run", shared_sut + "/", "--type", "average", "-d", "2s", "--time-scale", "2")
    assert (
        both.returncode == 2 and "--duration: a test type is scaled by its duration" in both.stderr
    )
