"""DeployDriver against a real proxy and two real demo servers, and the demo stack's teardown.

Each rollout is a few seconds of constant-rate load through the proxy with 1 s analysis
windows, so a regression in windowing, judging or applying weights shows as a wrong
final phase or wrong proxy weights, not as a flaky timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import psutil
import pytest

from engine.deploy.driver import DeployDriver
from engine.deploy.marks import Mark, mark_of
from engine.deploy.routers import SurgeProxyRouter
from engine.deploy.smoke import SMOKE_IDLE_S, SMOKE_IN_FLIGHT, SmokeRun, SmokeTarget
from engine.deploy.strategies import Analysis, Canary, EventKind, Manual, Phase, Switch, Weights
from engine.load.metrics import Recorder
from engine.load.model import RunModel
from engine.profile import parse_profile
from engine.profile.plan import Overrides, build_plan
from engine.proxy import Proxy, ProxyConfig
from engine.run_session import RunSession
from tests.conftest import ROOT, surge_cmd
from tui.cli.demo import PROFILE, demo_profile
from tui.cli.demo_stack import DemoStack


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
    driver = DeployDriver(canary(), SurgeProxyRouter(stack.admin_url))
    await RunSession(plan, deploy=driver, prepare=False, until_settled=True).run()
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


@pytest.mark.serial
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
        rec = Recorder(separate_latency=False, start=t - 1)
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
    # 3: green rolled back; 4: the 5 s load ended before a verdict (README: "Exit codes")
    assert proc.returncode in (0, 3, 4, 99), err
    assert "deploy" in out and "UPSTREAM" in out
    urls = out.splitlines()[:2]  # blue and green, then the rollout and where it goes
    assert urls[0].startswith("  demo: blue http://127.0.0.1:") and "(errors flaw)" in urls[0]
    assert urls[1].startswith("  demo: canary rollout through surge on http://127.0.0.1:")
    assert all(len(line) <= 80 for line in urls), urls
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


# --------------------------------------------------------------------------- switch + smoke


def smoke_switch() -> Switch:
    """1 s smoke windows; bounds a 5 ms green passes and a 10%-errors green fails."""
    return Switch(Analysis(interval=1.0, min_requests=10, max_p99_ms=50.0, max_p99_ratio=None))


class SmokedRollout:
    """A Switch with smoke under real load through the demo stack's proxy.

    At the snapshot that ends the smoke (promotion or rollback), before the driver's
    weights reach the proxy, it reads the proxy's own counters: what the proxy did
    while the smoke ran, not after.
    """

    def __init__(self, stack: DemoStack) -> None:
        self.stack = stack
        self.profile = demo_profile(stack.proxy_url)
        # 50 req/s: a 1 s window still gets min_requests after the smoke worker's ~1 s start
        target = replace(SmokeTarget.for_profile(self.profile, stack.proxy_url), rate=50)
        self.driver = DeployDriver(
            smoke_switch(), SurgeProxyRouter(stack.admin_url), smoke_target=target
        )
        self.load_to_green_while_smoking: list[int] = []
        self.proxy_at_verdict: Any = None

    async def run(self, seconds: float) -> None:
        plan = build_plan(
            self.profile, Overrides(executor="constant-arrival-rate", rate=100, duration=seconds)
        )
        driver = self.driver

        smoking = [True]  # a switch smokes from its start

        def on_snapshot(_: object) -> None:  # after the driver saw it, before its weights go
            if smoking[0]:  # the interval just judged ran while green was smoked
                load_green = sum(p.requests for p in driver.live["green"])
                self.load_to_green_while_smoking.append(load_green)
            smoking[0] = driver.smoking
            if driver.strategy.done and self.proxy_at_verdict is None:
                self.proxy_at_verdict = admin_get(self.stack.admin_url, "/stats")

        session = RunSession(plan, deploy=driver, until_settled=True)
        session.observe(on_snapshot)
        await session.run()


@pytest.mark.serial
def test_switch_smokes_a_good_green_through_the_header_then_promotes() -> None:
    with DemoStack("none") as stack:
        rollout = SmokedRollout(stack)
        asyncio.run(rollout.run(8.0))
        driver = rollout.driver
        assert driver.phase is Phase.PROMOTED, [e.message for e in driver.events]
        kinds = [e.kind for e in driver.events]
        assert kinds[0] is EventKind.SMOKE_STARTED and EventKind.ANALYSIS_FAILED not in kinds
        assert kinds[-2:] == [EventKind.ANALYSIS_PASSED, EventKind.PROMOTED]
        assert driver.smoke is not None
        answered = driver.smoke.upstreams["green"]
        assert answered >= 10 and set(driver.smoke.upstreams) == {"green"}
        assert rollout.load_to_green_while_smoking and not any(
            rollout.load_to_green_while_smoking
        )  # the load test sent green nothing: blue had all of it
        at_verdict = rollout.proxy_at_verdict
        assert at_verdict["weights"] == {"blue": 100, "green": 0}
        served = at_verdict["green"]["requests"]
        assert abs(served - answered) <= SMOKE_IN_FLIGHT  # only smoke requests, give or take
        assert at_verdict["blue"]["requests"] > served
        assert admin_get(stack.admin_url, "/weights") == {"blue": 0, "green": 100}
        assert not driver.smoke.running and driver.error is None


def test_switch_smoke_against_an_erroring_green_rolls_back_before_any_weight() -> None:
    with DemoStack("errors") as stack:
        rollout = SmokedRollout(stack)
        asyncio.run(rollout.run(8.0))
        driver = rollout.driver
        assert driver.phase is Phase.ROLLED_BACK, [e.message for e in driver.events]
        assert "success rate" in driver.verdicts()[-1].message
        assert EventKind.PROMOTED not in [e.kind for e in driver.events]
        assert rollout.proxy_at_verdict["weights"] == {"blue": 100, "green": 0}
        assert driver.applied == Weights(100, 0)
        assert admin_get(stack.admin_url, "/weights") == {"blue": 100, "green": 0}
        assert not any(rollout.load_to_green_while_smoking)
        assert driver.smoke is not None and driver.smoke.upstreams["green"] >= 10


async def until(ok: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def smoke_until_done(driver: DeployDriver, timeout: float = 5.0) -> None:
    """Step the driver as the app does, on an empty run model: only the smoke run speaks."""
    model = RunModel()
    driver.start()

    def done() -> bool:
        driver.observe(model)
        return driver.strategy.done

    await until(done, timeout)
    await driver.aclose()


def test_smoke_through_the_proxy_to_a_dead_green_counts_502s_and_rolls_back(
    sut: Callable[..., str],
) -> None:
    blue = sut("--color", "blue")
    dead = f"http://127.0.0.1:{free_port()}"

    async def main() -> DeployDriver:
        async with Proxy(ProxyConfig(blue=(blue,), green=(dead,))) as proxy:
            target = SmokeTarget(proxy.url + "/", rate=50)
            driver = DeployDriver(
                smoke_switch(), SurgeProxyRouter(proxy.admin_url), smoke_target=target
            )
            await smoke_until_done(driver)
            return driver

    driver = asyncio.run(main())
    assert driver.phase is Phase.ROLLED_BACK
    assert driver.smoke is not None
    figures = driver.smoke.figures()
    assert figures.requests >= 10 and figures.failed == figures.requests
    assert driver.smoke.last_failure == "HTTP 502"
    assert set(driver.smoke.upstreams) == {"green"}  # the proxy's 502 names the color


def test_smoke_to_an_unreachable_url_counts_connection_failures_and_stops_on_pause() -> None:
    target = SmokeTarget(f"http://127.0.0.1:{free_port()}/", rate=50)
    analysis = Analysis(interval=60.0, min_requests=10, max_p99_ratio=None)

    async def main() -> DeployDriver:
        driver = DeployDriver(Switch(analysis), None, smoke_target=target)
        driver.start()
        smoke = driver.smoke
        assert smoke is not None and smoke.running

        def failures() -> int:
            driver.observe(RunModel())
            return driver.window["green"].failed

        await until(lambda: failures() >= 5)
        driver.pause()
        assert not driver.smoking
        await until(lambda: not smoke.running)  # cancelled: its requests in flight go too
        driver.resume()
        assert smoke.running and driver.window["green"].requests == 0  # a new window
        await driver.aclose()
        assert not smoke.running
        return driver

    driver = asyncio.run(main())
    assert driver.phase is Phase.RUNNING  # a 60 s window was never judged
    assert driver.smoke is not None and driver.smoke.last_failure == "connection refused"
    assert not driver.smoke.upstreams  # no answer at all


def test_smoke_without_a_target_says_so_and_judges_green_on_nothing() -> None:
    now = [0.0]
    analysis = Analysis(interval=1.0, min_requests=10, max_p99_ratio=None)

    async def main() -> DeployDriver:
        driver = DeployDriver(Switch(analysis), None, clock=lambda: now[0])
        driver.start()
        assert driver.smoking and "no target" in (driver.error or "")
        now[0] = 1.5
        driver.observe(RunModel())
        return driver

    driver = asyncio.run(main())
    assert driver.phase is Phase.RUNNING and driver.weights == Weights(100, 0)
    assert driver.events[-1].kind is EventKind.ANALYSIS_INCONCLUSIVE
    assert "no target" in (driver.error or "")
    driver.rollback()
    assert driver.error is None


def test_smoke_target_is_the_profiles_first_get_behind_the_proxy() -> None:
    profile = parse_profile(
        """
        name = "api"
        base_url = "http://shop.example:8080/api"
        headers = { authorization = "Bearer t", accept = "text/html" }
        [[endpoints]]
        path = "/orders"
        method = "POST"
        [[endpoints]]
        path = "/items?limit=5"
        headers = { accept = "application/json" }
        """,
        "api.toml",
    )
    target = SmokeTarget.for_profile(profile, "http://127.0.0.1:8000/")
    assert target.url == "http://127.0.0.1:8000/api/items?limit=5"
    assert dict(target.headers) == {"authorization": "Bearer t", "accept": "application/json"}
    bare = SmokeTarget.for_profile(demo_profile("http://127.0.0.1:9"), "http://127.0.0.1:9")
    assert bare.url == "http://127.0.0.1:9/"
    with pytest.raises(ValueError, match="rate"):
        SmokeTarget("http://127.0.0.1:9/", rate=0)
    plan = target.plan()  # the smoke as the engine runs it: as the load, in a worker process
    cfg, (request,) = plan.work.only.executor, plan.work.only.requests
    assert (cfg.executor, cfg.rate, cfg.max_vus) == (
        "constant-arrival-rate",
        target.rate,
        SMOKE_IN_FLIGHT,
    )
    assert not plan.in_process and (request.method, request.url) == ("GET", target.url)
    assert dict(request.headers)["x-surge-color"] == "green"
    assert dict(request.headers)["authorization"] == "Bearer t"


@pytest.mark.serial
def test_a_smoke_run_is_timed_in_its_worker_not_on_a_stalling_loop(
    sut: Callable[..., str],
) -> None:
    """The app's loop stalls while it draws: the smoke's latencies must not (on the loop
    a 5 ms green read as p99 260-360 ms and a good green was rolled back)."""
    green = sut("--color", "green", "--latency", "5ms")
    smoke = SmokeRun(SmokeTarget(green + "/", rate=50))

    async def main() -> None:
        smoke.keep_alive()
        await until(lambda: smoke.window_mark().requests > 0, timeout=10.0)
        smoke.new_window()
        for _ in range(6):  # 0.3 s stalls, half of the time
            time.sleep(0.3)
            smoke.keep_alive()
            await asyncio.sleep(0.3)
        await smoke.aclose()

    asyncio.run(main())
    figures = smoke.figures()
    assert figures.requests >= 50 and figures.failed == 0
    assert 5.0 <= figures.p99_ms < 150.0, figures


def test_a_smoke_run_nobody_keeps_alive_stops_by_itself(sut: Callable[..., str]) -> None:
    """No smoke outlives the rollout that wanted it, even without a teardown (the app)."""
    green = sut("--color", "green")
    smoke = SmokeRun(SmokeTarget(green + "/", rate=50))

    async def main() -> float:
        smoke.keep_alive()
        started = time.monotonic()
        await until(lambda: not smoke.running, timeout=SMOKE_IDLE_S + 6.0)
        return time.monotonic() - started

    took = asyncio.run(main())
    assert took >= SMOKE_IDLE_S and smoke.upstreams["green"] > 0 and smoke.error is None


def test_a_rollback_the_proxy_was_gone_for_is_on_record_as_failed_not_done(
    sut: Callable[..., str],
) -> None:
    """The proxy takes the first step, then goes away: the rollback it never took is not
    'rolled back', and the record keeps the weights it last confirmed."""
    blue = sut("--color", "blue")

    async def main() -> DeployDriver:
        async with Proxy(ProxyConfig(blue=(blue,), green=(blue,))) as proxy:
            driver = DeployDriver(canary(), SurgeProxyRouter(proxy.admin_url))
            driver.start()
            await driver.flush()
            assert driver.applied == Weights(80, 20)
        driver.rollback()
        await driver.finish()
        return driver

    driver = asyncio.run(main())
    record = driver.final
    assert record is not None and record.outcome.value == "router_failed"
    assert (record.blue_weight, record.green_weight) == (80, 20)
    kinds = [e.kind for e in record.events]
    assert "rollback not applied" in kinds and "rolled back" not in kinds
    assert "not applied" in record.events[-1].message


def test_a_rollout_started_without_prepare_counts_only_its_own_instance_requests() -> None:
    """The console starts a rollout without `prepare()`: the proxy's per-instance counts
    are still the rollout's own, not every request since the proxy started."""
    with DemoStack("none") as stack:

        async def once(seconds: float) -> tuple[int, dict[str, dict[str, int]]]:
            profile = demo_profile(stack.proxy_url)
            plan = build_plan(
                profile, Overrides(executor="constant-arrival-rate", rate=100, duration=seconds)
            )
            driver = DeployDriver(canary(), SurgeProxyRouter(stack.admin_url))
            session = RunSession(plan, deploy=driver, prepare=False)
            session.start()
            await driver.flush()  # the first step's weights and the counts at the start
            ended = await session.run()
            assert ended.record is not None
            return ended.result.model.figures().requests, ended.record.instances

        asyncio.run(once(1.0))
        sent, instances = asyncio.run(once(1.5))
    assert sent > 0 and sum(v["requests"] for v in instances.values()) == sent
