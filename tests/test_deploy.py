"""DeployDriver against a real proxy and two real demo servers, and the demo stack's teardown.

Each rollout is a few seconds of constant-rate load through the proxy with 1 s analysis
windows, so a regression in windowing, judging or applying weights shows as a wrong
final phase or wrong proxy weights, not as a flaky timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import urllib.request

import psutil
import pytest

from engine.controller import Controller
from engine.deploy import DemoStack, DeployDriver, Mark, mark_of
from engine.metrics import Recorder
from engine.model import RunModel
from engine.plan import Overrides, build_plan
from engine.strategies import Analysis, Canary, EventKind, Manual, Phase, Weights
from tests.conftest import ROOT, surge_cmd
from tui.demo import PROFILE, demo_profile


def admin_get(admin_url: str, path: str) -> object:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(admin_url + path, timeout=5) as resp:
        return json.loads(resp.read())


def canary() -> Canary:
    analysis = Analysis(interval=1.0, min_requests=10, max_p99_ms=25.0, max_p99_ratio=None)
    return Canary(analysis, steps=[20, 50, 100])


async def rollout(stack: DemoStack, seconds: float) -> DeployDriver:
    profile = demo_profile(stack.proxy_url)
    plan = build_plan(
        profile, Overrides(executor="constant-arrival-rate", rate=150, duration=seconds)
    )
    driver = DeployDriver(canary(), stack.admin_url)

    def on_snapshot(_: object) -> None:
        driver.observe(controller.model)
        if driver.strategy.done:
            controller.stop("rollout over")

    controller = Controller(plan, on_snapshot=on_snapshot)
    driver.start()
    await controller.run()
    await driver.aclose()
    return driver


def test_canary_against_slow_green_rolls_back() -> None:
    with DemoStack("latency") as stack:
        driver = asyncio.run(rollout(stack, 6.0))
        assert driver.phase is Phase.ROLLED_BACK
        kinds = [e.kind for e in driver.events]
        assert EventKind.ANALYSIS_FAILED in kinds
        assert "p99" in driver.verdicts()[-1].message
        assert admin_get(stack.admin_url, "/weights") == {"blue": 100, "green": 0}
        assert driver.applied == Weights(100, 0)


def test_canary_against_good_green_promotes() -> None:
    with DemoStack("none") as stack:
        driver = asyncio.run(rollout(stack, 10.0))
        assert driver.phase is Phase.PROMOTED, [e.message for e in driver.events]
        passed = [e for e in driver.events if e.kind is EventKind.ANALYSIS_PASSED]
        assert len(passed) == 2  # 20% and 50% judged, 100% is the promotion
        assert admin_get(stack.admin_url, "/weights") == {"blue": 0, "green": 100}
        assert sum(p.requests for p in driver.live["green"]) > 0


def test_error_flaw_fails_on_success_rate() -> None:
    with DemoStack("errors") as stack:
        driver = asyncio.run(rollout(stack, 6.0))
        assert driver.phase is Phase.ROLLED_BACK
        assert "success rate" in driver.verdicts()[-1].message


def test_window_figures_are_exact_differences_of_the_cumulative_model() -> None:
    model = RunModel()

    def interval(n_green: int, t: float) -> None:
        rec = Recorder(separate_service=False, start=t - 1)
        for i in range(n_green):
            rec.record("home", "green", 1000 + i, 1000 + i, 200, i % 10 == 0, 10, 10)
        rec.record("home", "blue", 500, 500, 200, False, 10, 10)
        model.add(rec.harvest(t, vus=1, vus_max=1, target=1))

    interval(50, 1.0)
    first = mark_of(model, "green", 1.0)
    interval(30, 2.0)
    delta = mark_of(model, "green", 2.0).since(first)
    assert (delta.requests, delta.failed) == (30, 3)
    assert 1.02 <= delta.figures().p99_ms <= 1.04  # values 1000..1029 us
    assert Mark().percentiles((99.0,)) == {99.0: 0.0}


def test_manual_moves_green_in_steps_without_a_proxy() -> None:
    now = [0.0]
    driver = DeployDriver(Manual(10), None, clock=lambda: now[0])
    driver.nudge(1)
    driver.nudge(1)
    assert driver.weights == Weights(80, 20)
    driver.nudge(-1)
    assert driver.weights == Weights(90, 10)
    driver.promote()
    assert driver.weights == Weights(0, 100) and driver.phase is Phase.PROMOTED
    driver.rollback()
    assert driver.weights == Weights(100, 0) and driver.applied == Weights(100, 0)


def test_demo_stack_leaves_no_process() -> None:
    with DemoStack("none") as stack:
        pids = stack.pids
        assert len(pids) == 3 and all(psutil.pid_exists(p) for p in pids)
        assert admin_get(stack.admin_url, "/weights") == {"blue": 100, "green": 0}
    assert not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]


def test_headless_demo_exits_and_leaves_no_process() -> None:
    proc = subprocess.Popen(
        surge_cmd("demo", "--headless", "--time-scale", "0.002", "--green-flaw", "errors"),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    me = psutil.Process(proc.pid)
    children: set[int] = set()
    try:
        while proc.poll() is None:
            try:
                children |= {c.pid for c in me.children(recursive=True)}
            except psutil.NoSuchProcess:
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.2)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in (0, 99), err
    assert "deploy" in out and "UPSTREAM" in out
    assert children, "the demo started no servers"
    left = [p for p in children if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
    assert not left


@pytest.mark.parametrize("flaw", ["bogus"])
def test_demo_stack_rejects_an_unknown_flaw(flaw: str) -> None:
    with pytest.raises(ValueError, match="green flaw"):
        DemoStack(flaw)


def test_demo_profile_is_valid() -> None:
    profile = demo_profile("http://127.0.0.1:9")
    assert profile.deploy is not None and profile.deploy.strategy == "canary"
    assert PROFILE.name == "demo.toml"
