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
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.exit_codes import EXIT_ROLLED_BACK, EXIT_UNFINISHED
from engine.report.document import read_report
from tests.conftest import ROOT, surge_cmd
from tests.integration.nginx import free_port
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
    data = read_report(report).table()
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
    deploy = read_report(good).table()["deploy"]
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
    data = read_report(report).table()
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
    data = read_report(report).table()
    assert data["meta"]["exit_code"] == EXIT_UNFINISHED
    assert data["deploy"]["outcome"] == "unfinished" and data["deploy"]["steps"] == []
    assert "the load ended before the verdict" in proc.stdout
    assert "unfinished" in proc.stdout


def test_a_rollout_does_not_start_when_its_router_or_its_target_does_not_answer(
    tmp_path: Path, sut: Callable[..., str]
) -> None:
    """Nothing on the admin port: one line naming the router, exit 2, no load, no report
    (it once said "rolled back: router back to 100% blue" of a router that was never
    there). A target that refuses is named likewise; without [deploy] it is run as k6
    would, every refusal counted."""
    target = sut("--color", "blue")
    nobody = free_port()
    profile, report = tmp_path / "p.toml", tmp_path / "r.toml"

    def write(base_url: str, deploy: bool = True) -> None:
        table = f"""
[deploy]
blue = ["{target}"]
green = ["{target}"]
admin_port = {nobody}
strategy = "canary"
steps = [50, 100]
"""
        profile.write_text(
            f'name = "p"\nbase_url = "{base_url}"\n' + (table if deploy else ""),
            encoding="utf-8",
        )

    write(target)
    proc = run(profile, report, "2s")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert f"router surge proxy (admin http://127.0.0.1:{nobody}) does not answer" in line
    assert "deploy" not in proc.stdout and not report.exists()

    dead = f"http://127.0.0.1:{free_port()}"
    write(dead)
    proc = run(profile, report, "2s")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert f"target {dead} does not answer (connection refused)" in line
    assert not report.exists()

    write(dead, deploy=False)
    proc = run(profile, report, "1s")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert read_report(report).table()["summary"]["failed"] > 0


def test_instance_counts_are_this_run_s_with_5xx_and_connection_errors_apart(
    tmp_path: Path,
) -> None:
    """Two runs through one proxy: the second's [deploy.instances] adds up to its own
    requests (not both runs'), and green's injected 500s are its 5xx, exactly as many
    as Surge counted failed on green, with no connection error."""
    with DemoStack("errors") as stack:
        profile = write_profile(tmp_path, stack, interval="30s")
        text = profile.read_text(encoding="utf-8").replace("[20, 50, 100]", "[50, 100]")
        profile.write_text(text, encoding="utf-8")
        first, second = tmp_path / "first.toml", tmp_path / "second.toml"
        assert run(profile, first, "1s").returncode == EXIT_UNFINISHED
        proc = run(profile, second, "2s")
        assert proc.returncode == EXIT_UNFINISHED, proc.stdout + proc.stderr
    data = read_report(second).table()
    instances = data["deploy"]["instances"]
    assert set(instances) == {"blue-0", "green-0"}
    assert sum(v["requests"] for v in instances.values()) == data["summary"]["requests"]
    green, blue = instances["green-0"], instances["blue-0"]
    assert green["status_5xx"] == data["upstreams"]["green"]["failed"] > 0
    assert blue["status_5xx"] == 0
    assert green["connection_errors"] == blue["connection_errors"] == 0
    assert f"green-0: {green['requests']:,} requests, {green['status_5xx']:,} 5xx" in proc.stdout
