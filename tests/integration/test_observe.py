"""The server's side of a run against the real things on 127.0.0.1: the SUT's own
`/metrics`, Debian's node_exporter, a real Prometheus answering PromQL, and a target
that goes away mid-run (the run goes on and says so)."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from engine.load.run import RunPlan, Snapshot
from engine.observe.config import ObserveSpec, PromQuery
from engine.profile.loader import adhoc_profile
from engine.profile.plan import Overrides, build_plan
from engine.report.document import read_report
from engine.report.summary import render_report
from engine.run_session import RunSession, SessionEnd
from tests.conftest import run_surge, spawn_sut
from tests.integration.nginx import free_port

NODE_EXPORTER = shutil.which("prometheus-node-exporter") or "/usr/bin/prometheus-node-exporter"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"

pytestmark = pytest.mark.timeout(60)


def _ready(url: str, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, f"{what} did not start"
        time.sleep(0.1)


def _scraped(base: str, proc: subprocess.Popen[bytes]) -> None:
    """Prometheus's first scrape comes ~5 s after it is ready (its discovery's delay)."""
    deadline = time.monotonic() + 20
    query = f"{base}/api/v1/query?query=up"
    while True:
        with urllib.request.urlopen(query, timeout=1) as r:
            if json.loads(r.read())["data"]["result"]:
                return
        assert proc.poll() is None and time.monotonic() < deadline, "prometheus scraped nothing"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def node_exporter() -> Iterator[str]:
    """Debian's prometheus-node-exporter on a free loopback port (make test installs it)."""
    assert Path(NODE_EXPORTER).exists(), "node_exporter missing: scripts/install-tools.sh"
    port = free_port()
    cmd = [NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{port}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _ready(f"{url}/metrics", proc, "node_exporter")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def sut_proc() -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc, url = spawn_sut()
    yield proc, url
    proc.kill()
    proc.wait(timeout=5)


def test_a_run_observes_the_sut_and_node_exporter_into_the_report(
    sut_proc: tuple[subprocess.Popen[str], str], node_exporter: str, tmp_path: Path
) -> None:
    """`surge run --observe` twice: the SUT's own series (its request rate is the load's)
    and the host's from node_exporter are in the report, and `report show` prints them."""
    _, sut = sut_proc
    report = tmp_path / "r.toml"
    run = run_surge(
        "run", f"{sut}/delay/40", "--rate", "100", "-d", "3s", "--report", str(report),
        "--observe", sut, "--observe", node_exporter,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    observed = read_report(report).observe
    assert {"cpu", "memory", "inflight", "connections", "requests"} <= set(observed)
    assert {"host_cpu", "host_memory", "host_tcp"} <= set(observed)
    rates = observed["requests"].values
    assert observed["requests"].unit == "/s" and len(rates) >= 2
    assert 70 <= max(rates[:-1]) <= 130  # the load's 100/s, counted by the server
    assert max(observed["inflight"].values) >= 1  # 100/s held 40 ms: ~4 at any instant
    assert observed["memory"].values[0] > 10_000_000 and observed["host_memory"].values[0] > 0
    assert all(s.times == tuple(sorted(s.times)) and not s.problem for s in observed.values())
    show = run_surge("report", "show", str(report), "--no-plots")
    assert "█ SERVER SIDE" in show.stdout and "host_cpu" in show.stdout


def test_promql_through_a_real_prometheus(
    sut_proc: tuple[subprocess.Popen[str], str], tmp_path: Path
) -> None:
    """A Prometheus scraping the SUT every 0.5 s; the run asks it PromQL each interval."""
    assert Path(PROMETHEUS).exists(), "prometheus missing: scripts/install-tools.sh"
    _, sut = sut_proc
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 500ms\n  scrape_timeout: 400ms\n"
        "scrape_configs:\n  - job_name: sut\n    static_configs:\n"
        f"      - targets: ['{sut.removeprefix('http://')}']\n"
    )
    cmd = [
        PROMETHEUS,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    prom = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        _ready(f"{base}/-/ready", prom, "prometheus")
        _scraped(base, prom)
        exprs = (("up", 'up{job="sut"}'), ("reqs", "sum(rate(sut_requests_total[2s]))"))
        plan = build_plan(adhoc_profile(f"{sut}/"), Overrides(rate=50, duration=4))
        plan = _with(plan, ObserveSpec(query=PromQuery(base, exprs)))
        end = _run(RunSession(plan))
    finally:
        prom.terminate()
        prom.wait(timeout=10)
    observed = end.result.observed
    assert set(observed) == {"up", "reqs"}, observed
    assert set(observed["up"].values) == {1.0}
    assert observed["reqs"].source == base
    assert 30 <= max(observed["reqs"].values) <= 80  # the load's 50/s, as Prometheus saw it


def test_a_target_that_goes_away_keeps_the_run_going_and_is_said(
    shared_sut: str, sut_proc: tuple[subprocess.Popen[str], str]
) -> None:
    proc, watched = sut_proc
    plan = build_plan(adhoc_profile(f"{shared_sut}/"), Overrides(rate=50, duration=4))
    session = RunSession(_with(plan, ObserveSpec(targets=(f"{watched}/metrics",))))
    snaps: list[Snapshot] = []

    def kill_after_two(snap: Snapshot) -> None:
        snaps.append(snap)
        if len(snaps) == 2:
            proc.kill()

    session.observe(kill_after_two)
    end = _run(session)
    assert end.exit_code == 0 and not end.result.aborted
    assert end.result.model.figures().requests >= 150  # the load went on
    memory = end.result.observed["memory"]
    assert memory.times and max(memory.times) <= 3.0  # samples until the kill, none after
    assert "down since" in memory.problem
    assert watched.removeprefix("http://") in memory.problem
    assert "down since" in snaps[-1].observed["memory"].problem  # said live too
    assert "down since" in render_report(end.report)


def _with(plan: RunPlan, spec: ObserveSpec) -> RunPlan:
    return replace(plan, observe=spec)


def _run(session: RunSession) -> SessionEnd:
    return asyncio.run(session.run())


def test_a_target_that_never_answers_costs_the_others_no_interval(shared_sut: str) -> None:
    """A socket that accepts and never answers: its scrapes time out in the observer's
    thread; the SUT's series keep one sample an interval and the run its pace. A page
    that is not Prometheus text is said as such."""
    with socket.create_server(("127.0.0.1", 0)) as hung:
        mute = f"http://127.0.0.1:{hung.getsockname()[1]}/metrics"
        plan = build_plan(adhoc_profile(f"{shared_sut}/"), Overrides(rate=50, duration=3))
        garbage = f"{shared_sut}/"  # answers 200 with "hello world"
        spec = ObserveSpec(targets=(mute, f"{shared_sut}/metrics", garbage))
        end = _run(RunSession(_with(plan, spec)))
    observed = end.result.observed
    assert 2.5 <= end.result.duration <= 3.8
    assert "timed out" in observed[mute.removeprefix("http://").removesuffix("/metrics")].problem
    said = observed[shared_sut.removeprefix("http://")].problem
    assert said.endswith(
        "down since 0s (not Prometheus text: could not convert string to float: 'world')"
    )
    assert len(observed["memory"].times) >= 3, observed["memory"].times  # 0 s, then intervals
