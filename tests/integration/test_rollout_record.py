"""The outcome on record: `surge run PROFILE` with `[deploy]` drives the rollout headless,
prints each judged window, writes `[deploy]` in the report and exits by its outcome.

Each run is a few seconds of constant-rate load through the real proxy in front of two
real demo servers, with 1 s analysis windows.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from engine.exit_codes import EXIT_ROLLED_BACK, EXIT_UNFINISHED
from engine.report.document import load_report
from tests.conftest import ROOT, surge_cmd
from tui.cli.demo_stack import DemoStack


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


def write_profile(
    folder: Path, stack: DemoStack, *, interval: str = "1s", on_exit: str = "rollback"
) -> Path:
    path = folder / "rollout.toml"
    path.write_text(
        f"""
name = "rollout"
base_url = "{stack.proxy_url}"
rate = 100

[[endpoints]]
path = "/"

[deploy]
blue = ["{stack.blue_url}"]
green = ["{stack.green_url}"]
proxy_port = {port_of(stack.proxy_url)}
admin_port = {port_of(stack.admin_url)}
strategy = "canary"
steps = [20, 50, 100]
interval = "{interval}"
min_requests = 10
max_p99_ms = 500   # loose: these tests judge success rates, not a busy machine's tail
max_p99_ratio = 50.0
on_exit = "{on_exit}"
""",
        encoding="utf-8",
    )
    return path


def weights(stack: DemoStack) -> dict[str, int]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(stack.admin_url + "/weights", timeout=5) as resp:
        return json.loads(resp.read())


def run(profile: Path, report: Path, seconds: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        surge_cmd(
            "run", str(profile), "--rate", "100", "--duration", seconds, "--report", str(report)
        ),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_flawed_green_is_rolled_back_on_record_and_by_exit_code(tmp_path: Path) -> None:
    with DemoStack("errors") as stack:
        report = tmp_path / "r.toml"
        proc = run(write_profile(tmp_path, stack), report, "3s")
        assert proc.returncode == EXIT_ROLLED_BACK, proc.stdout + proc.stderr
        assert weights(stack) == {"blue": 100, "green": 0}
    # each judged window printed as it happened, then the section in the summary
    assert "deploy    " in proc.stdout and "failed" in proc.stdout
    assert "█ DEPLOY" in proc.stdout and "rolled back" in proc.stdout
    data = load_report(report)
    deploy = data["deploy"]
    assert data["meta"]["exit_code"] == EXIT_ROLLED_BACK
    assert deploy["outcome"] == "rolled_back" and deploy["final_weights"] == [100, 0]
    assert deploy["strategy"] == "canary" and "surge proxy" in deploy["router"]
    first = deploy["steps"][0]
    assert first["verdict"] == "failed" and first["weights"] == [80, 20]
    assert "success rate" in first["reason"]
    assert 0.05 < first["green"]["error_rate"] < 0.15 and first["blue"]["error_rate"] == 0
    assert first["green"]["requests"] >= 10 and first["green"]["p99_ms"] > 0
    shown = subprocess.run(
        surge_cmd("report", "show", str(report), "--no-plots"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert shown.returncode == 0 and "█ DEPLOY" in shown.stdout
    assert "canary through surge proxy" in shown.stdout and "rolled back" in shown.stdout


def test_good_green_is_promoted_and_compare_sets_two_rollouts_side_by_side(
    tmp_path: Path,
) -> None:
    with DemoStack("none") as stack:
        good = tmp_path / "good.toml"
        proc = run(write_profile(tmp_path, stack), good, "3.5s")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert weights(stack) == {"blue": 0, "green": 100}
    deploy = load_report(good)["deploy"]
    assert deploy["outcome"] == "promoted" and deploy["final_weights"] == [0, 100]
    # the step at 100% is the promotion itself: two windows were judged
    assert [s["verdict"] for s in deploy["steps"]] == ["passed"] * 2
    assert [s["weights"] for s in deploy["steps"]] == [[80, 20], [50, 50]]
    with DemoStack("errors") as stack:
        bad = tmp_path / "bad.toml"
        assert run(write_profile(tmp_path, stack), bad, "2.5s").returncode == EXIT_ROLLED_BACK
    cmp = subprocess.run(
        surge_cmd("report", "compare", str(good), str(bad)),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert cmp.returncode == 0
    lines = [ln for ln in cmp.stdout.splitlines() if ln.strip().startswith("outcome")]
    assert lines and "promoted" in lines[0] and "rolled back" in lines[0]


@pytest.mark.parametrize(
    ("on_exit", "left"),
    [("rollback", {"blue": 100, "green": 0}), ("keep", {"blue": 80, "green": 20})],
)
def test_sigterm_mid_rollout_leaves_the_router_as_on_exit_says(
    tmp_path: Path, on_exit: str, left: dict[str, int]
) -> None:
    with DemoStack("none") as stack:
        report = tmp_path / "r.toml"
        profile = write_profile(tmp_path, stack, interval="30s", on_exit=on_exit)
        proc = subprocess.Popen(
            surge_cmd(
                "run", str(profile), "--rate", "50", "--duration", "30s", "--report", str(report)
            ),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 20
            while weights(stack) != {"blue": 80, "green": 20}:
                assert time.monotonic() < deadline, "the rollout never took its first step"
                time.sleep(0.1)
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 1, out + err  # stopped: not a rollback, not a pass
        assert weights(stack) == left
    data = load_report(report)
    deploy = data["deploy"]
    assert data["meta"]["exit_code"] == 1
    assert deploy["outcome"] == "stopped" and deploy["on_exit"] == on_exit
    assert deploy["final_weights"] == [left["blue"], left["green"]]


def test_a_load_that_ends_before_the_verdict_leaves_the_rollout_unfinished_not_passed(
    tmp_path: Path,
) -> None:
    """2 s of load for a 30 s window: no verdict, so not a pass (exit 4, on record)."""
    with DemoStack("none") as stack:
        report = tmp_path / "r.toml"
        proc = run(write_profile(tmp_path, stack, interval="30s"), report, "2s")
        assert proc.returncode == EXIT_UNFINISHED, proc.stdout + proc.stderr
        assert weights(stack) == {"blue": 100, "green": 0}  # on_exit = rollback
    data = load_report(report)
    assert data["meta"]["exit_code"] == EXIT_UNFINISHED
    assert data["deploy"]["outcome"] == "unfinished" and data["deploy"]["steps"] == []
    assert "the load ended before the verdict" in proc.stdout
    assert "unfinished" in proc.stdout
