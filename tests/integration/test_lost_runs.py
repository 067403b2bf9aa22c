"""No lost run: signals, dead workers, hanging requests and failing writes still leave a
report that parses, marked aborted with the reason, with what was measured counted.

Real processes (`surge run` as a user starts it) against real servers on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from engine.load.controller import Controller
from engine.profile import adhoc_profile
from engine.profile.plan import Overrides, build_plan
from engine.report.document import read_report
from tests.conftest import ROOT, run_surge, surge_cmd


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections and reads requests, never answers: every request hangs."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(512)
    yield f"http://127.0.0.1:{srv.getsockname()[1]}/"
    srv.close()


def start_run(url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        surge_cmd("run", url, "--progress", "always", *args),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )


def wait_for_progress(proc: subprocess.Popen[str]) -> None:
    """Until the run has measured an interval (its progress line), not a guessed sleep."""
    assert proc.stderr is not None
    seen = ""
    while "reqs" not in seen and "req" not in seen:
        ch = proc.stderr.read(1)
        assert ch, f"the run ended early: {seen!r}"
        seen += ch


@pytest.mark.parametrize(
    ("sig", "reason"),
    [
        (signal.SIGINT, "interrupted (Ctrl+C)"),
        (signal.SIGTERM, "terminated (SIGTERM)"),
        (signal.SIGHUP, "terminal hung up (SIGHUP)"),
    ],
)
def test_a_signal_stops_the_run_and_keeps_a_report(
    shared_sut: str, tmp_path: Path, sig: signal.Signals, reason: str
) -> None:
    report = tmp_path / "run.toml"
    proc = start_run(shared_sut + "/", "--vus", "2", "--duration", "60s", "--report", str(report))
    try:
        wait_for_progress(proc)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1
    data = read_report(report)
    assert data.meta.aborted is True
    assert data.meta.stop_reason == reason
    assert data.summary.requests > 0
    assert "http_reqs" in out


def test_a_long_run_rewrites_its_report_while_it_runs(shared_sut: str, tmp_path: Path) -> None:
    """Every minute by default (a power cut loses at most that); here every 0.5 s."""
    report = tmp_path / "soak.toml"
    proc = start_run(
        shared_sut + "/",
        *("--vus", "1", "--duration", "30s", "--report", str(report)),
        *("--checkpoint-every", "0.5s", "--interval", "0.25s"),
    )
    try:
        wait_for_progress(proc)
        deadline = 100
        while not report.exists() and deadline:
            deadline -= 1
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.1)
        assert report.exists(), "no checkpoint written while the run went on"
        assert proc.poll() is None, "the run ended before its checkpoint was looked at"
        data = read_report(report)
        assert data.meta.aborted is True
        assert str(data.meta.stop_reason).startswith("checkpoint: running at")
        assert data.summary.requests > 0
    finally:
        proc.kill()
        proc.wait(timeout=10)


@pytest.mark.parametrize("kind", ["folder", "file in a file"])
def test_a_report_path_that_cannot_be_written_fails_before_the_run(
    tmp_path: Path, kind: str
) -> None:
    target = tmp_path if kind == "folder" else tmp_path / "plain" / "run.toml"
    if kind != "folder":
        (tmp_path / "plain").write_text("not a folder")
    out = run_surge("run", "http://127.0.0.1:9/", "--report", str(target), "--duration", "1s")
    assert out.returncode == 2
    assert out.stderr.startswith("surge run: error: --report") and out.stderr.count("\n") == 1
    assert "http_reqs" not in out.stdout  # nothing ran


def test_a_report_that_fails_at_the_end_is_written_next_to_the_summary(
    shared_sut: str, tmp_path: Path
) -> None:
    folder = tmp_path / "gone"
    folder.mkdir()
    proc = subprocess.Popen(
        surge_cmd(
            "run",
            shared_sut + "/",
            "--vus",
            "1",
            "--duration",
            "2s",
            "--progress",
            "always",
            "--report",
            str(folder / "run.toml"),
        ),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)},
    )
    wait_for_progress(proc)
    shutil.rmtree(folder)
    folder.write_text("a file where the folder was")  # the report's folder cannot come back
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "http_reqs" in out
    fallback = list(tmp_path.glob("surge-report-*.toml"))
    assert len(fallback) == 1, err
    assert f"wrote {fallback[0]} instead" in err
    assert read_report(fallback[0]).summary.requests > 0


async def test_interrupted_iterations_on_the_interval_grid_are_counted(silent_server: str) -> None:
    """gracefulStop ending exactly on an interval boundary still counts what it cut off."""
    plan = build_plan(adhoc_profile(silent_server), Overrides(vus=5, duration=1.0), interval=1.0)
    cfg = replace(plan.work.only.executor, graceful_stop=1.0)
    plan = replace(plan, work=replace(plan.work.with_only(executor=cfg), timeout=30.0))
    result = await asyncio.wait_for(Controller(plan).run(), 20)
    assert result.model.total.interrupted == 5


async def test_every_worker_killed_ends_the_run_aborted(shared_sut: str) -> None:
    plan = build_plan(
        adhoc_profile(shared_sut + "/"), Overrides(vus=2, duration=20.0, workers=2), interval=0.25
    )
    plan = replace(plan, in_process=False)
    controller = Controller(plan)
    run = asyncio.create_task(controller.run())
    while not controller.model.figures().requests:  # the workers are up and measuring
        await asyncio.sleep(0.05)
    pids = controller.pool.pids()  # type: ignore[attr-defined]
    assert len(pids) == 2
    for pid in pids:
        psutil.Process(pid).kill()
    result = await asyncio.wait_for(run, 20)
    assert result.duration < 10
    assert result.aborted
    assert str(result.stop_reason).startswith("every worker died")
    assert result.exit_code == 1
    assert result.model.figures().requests > 0  # what they measured before is kept


def test_a_report_piped_into_head_ends_quietly(tmp_path: Path) -> None:
    report = ROOT / "tests" / "fixtures" / "reports"
    first = sorted(report.glob("*.toml"))[0]
    proc = subprocess.run(
        f"{sys.executable} -m tui.cli report show {first} | head -n 2",
        shell=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr
    assert len(proc.stdout.splitlines()) == 2


def test_a_deeply_nested_report_is_one_line(tmp_path: Path) -> None:
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 3000 + "]" * 3000 + "\n")
    out = run_surge("report", "show", str(deep))
    assert out.returncode == 2
    assert out.stderr == f"surge report: error: {deep}: not a valid report (nested too deeply)\n"


def test_merge_refuses_a_report_whose_histogram_does_not_hold_its_requests(
    tmp_path: Path,
) -> None:
    fixtures = sorted((ROOT / "tests" / "fixtures" / "reports").glob("*.toml"))
    good = fixtures[0]
    data = tomllib.loads(good.read_text())
    empty = read_report(good).table()  # the same run, with its latency histogram emptied
    import tomli_w

    from engine.load.metrics import encode_histogram, new_histogram

    empty["histograms"]["total"]["latency"] = encode_histogram(new_histogram())
    bad = tmp_path / "empty.toml"
    bad.write_text(tomli_w.dumps(empty))
    assert data["summary"]["requests"] > 0
    out = run_surge("report", "merge", str(good), str(bad), "-o", str(tmp_path / "m.toml"))
    assert out.returncode == 2
    assert "latency histogram holds 0 values" in out.stderr
    assert not (tmp_path / "m.toml").exists()
