"""`surge demo --mirror` and `--cohort`, headless: real `surge sut` colors behind a real
`surge proxy`, the steps before the canary's weights, each judged on its own traffic."""

from __future__ import annotations

import subprocess

from tests.conftest import ROOT, surge_cmd


def demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        surge_cmd("demo", "--headless", "--time-scale", "0.003", *args),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )


def test_a_mirror_step_rolls_an_erroring_green_back_before_any_user_sees_it() -> None:
    done = demo("--mirror", "--green-flaw", "errors")
    assert done.returncode == 3, done.stdout + done.stderr  # rolled back
    out = done.stdout
    assert "step started: step 1/5: mirror 100% 5s" in out
    assert "mirror: pairs alike" in out and "status and 0 body mismatches" in out
    # nobody saw green: the load's own requests all went to blue
    assert "green       0 req" in out and "rolled back: 1 failed analysis" in out


def test_a_cohort_step_routes_the_beta_requests_to_green_and_judges_them() -> None:
    done = demo("--cohort", "--green-flaw", "errors")
    assert done.returncode == 3, done.stdout + done.stderr  # rolled back on the cohort alone
    out = done.stdout
    assert "step started: step 1/5: cohort (routes on, green 0%)" in out
    green = next(line for line in out.splitlines() if line.strip().startswith("green "))
    cohort = next(line for line in out.splitlines() if line.strip().startswith("+beta"))
    assert int(cohort.split()[1].replace(",", "")) > 0, out  # the cohort's requests, all
    assert green.split()[1:] == cohort.split()[1:]  # green's: only the cohort's at 100:0
    assert "— cohort: success rate" in out


def test_mirror_through_haproxy_or_another_strategy_is_refused_in_one_line() -> None:
    done = demo("--cohort", "--strategy", "linear")
    assert (done.returncode, done.stderr.count("\n")) == (2, 1)
    assert "--mirror and --cohort are canary steps" in done.stderr
    done = demo("--mirror", "--router", "haproxy")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "surge demo: --mirror: HAProxy has no request mirroring: use --router surge or envoy"
    )
