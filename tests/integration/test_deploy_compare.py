"""`surge deploy compare`: the strategies side by side on instances started from recipes.

One run of the real command on short windows (1 s) against 3 demo servers per color,
green answering half its requests 500 (the demo server's exact error rate), under
100 req/s: every strategy rolls back, and the rows keep the order the strategies are
chosen for.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import psutil

from tests.conftest import ROOT, surge_cmd


def tagged(tag: str) -> list[int]:
    """Processes started with SURGE_TEST_TAG=tag in their environment (the instances)."""
    found = []
    for p in psutil.process_iter():
        try:
            if p.environ().get("SURGE_TEST_TAG") == tag:
                found.append(p.pid)
        except (psutil.Error, OSError):
            continue
    return found


def fleet_profile(tag: str, *, error_rate: str) -> str:
    """3 demo servers per color (green answering `error_rate` of requests 500), 100 req/s
    for up to 30 s, 1 s windows; every instance carries SURGE_TEST_TAG=tag."""
    sut = [sys.executable, "-m", "tui.cli.sut_cmd", "--port", "{port}", "--color"]
    return textwrap.dedent(
        f"""
        name = "fleet"
        base_url = "http://127.0.0.1:1"
        [load]
        executor = "constant-arrival-rate"
        rate = 100
        duration = "30s"
        pre_allocated_vus = 10
        max_vus = 40
        [[endpoints]]
        path = "/"
        [deploy]
        strategy = "canary"
        steps = [10, 50, 100]
        interval = "1s"
        min_requests = 8
        min_success_rate = 0.95
        [deploy.blue]
        command = {[*sut, "blue"]!r}
        instances = 3
        workdir = "{ROOT}"
        env = {{ SURGE_TEST_TAG = "{tag}" }}
        [deploy.green]
        command = {[*sut, "green", "--error-rate", error_rate]!r}
        instances = 3
        workdir = "{ROOT}"
        env = {{ SURGE_TEST_TAG = "{tag}" }}
        """
    ).replace("'", '"')


def test_compare_runs_each_strategy_and_orders_their_costs(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex
    profile = tmp_path / "fleet.toml"
    profile.write_text(fleet_profile(tag, error_rate="0.5"))
    rows_file = tmp_path / "rows.json"
    names = "rolling,rolling-with-additional-batch,bluegreen,canary"
    done = subprocess.run(
        [*surge_cmd("deploy", "compare", str(profile), "--strategies", names), "--json", rows_file],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {r["strategy"]: r for r in json.loads(rows_file.read_text())}
    assert list(rows) == names.split(",")
    assert {r["outcome"] for r in rows.values()} == {"rolled back"}, rows
    # resources: blue/green runs both full sets; an additional batch never serves below 3
    assert rows["bluegreen"]["peak_instances"] == 6
    assert rows["rolling-with-additional-batch"]["lowest_serving"] == 3
    assert rows["rolling"]["lowest_serving"] == 2
    # risk: the canary's 10% costs users fewer errors than rolling's first batch (a third)
    assert 0 < rows["canary"]["errors"] < rows["rolling"]["errors"], rows
    assert rows["bluegreen"]["green_requests"] == 0  # judged on its smoke run only
    assert "| strategy" in done.stdout and "rolling-with-additional-batch" in done.stdout
    assert tagged(tag) == []  # every instance of every strategy stopped


def test_sigterm_mid_comparison_leaves_no_instance_running(tmp_path: Path) -> None:
    """SIGTERM once the first strategy's instances serve: the comparison ends (exit 1)
    and stops them, and its proxy, on the way out."""
    tag = uuid.uuid4().hex
    profile = tmp_path / "fleet.toml"
    profile.write_text(fleet_profile(tag, error_rate="0"))
    proc = subprocess.Popen(
        [*surge_cmd("deploy", "compare", str(profile), "--strategies", "canary")],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while len(tagged(tag)) < 3 and time.monotonic() < deadline:  # blue's 3 serve
            assert proc.poll() is None
            time.sleep(0.1)
        assert len(tagged(tag)) >= 3
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    assert tagged(tag) == [], err
