"""A green 15% slower (`surge sut --latency 5.75ms` against blue's 5ms) through Surge's
proxy: the demo profile's fixed bounds pass it, the statistical judge rolls it back.

One stack for both rollouts (the driver sets the weights it starts from); each canary
judges 3 s windows at 50% of 300 requests a second, so it is over in a few seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace

import pytest

from engine.deploy.driver import DeployDriver
from engine.deploy.routers import SurgeProxyRouter
from engine.deploy.strategies import Analysis, Canary, EventKind, Phase
from engine.deploy.strategies.analysis import BoundsJudge, Judge, StatisticalJudge
from engine.profile.plan import Overrides, build_plan
from engine.run_session import RunSession
from tui.cli.demo import demo_profile
from tui.cli.demo_stack import DemoStack

WINDOW_S = 3.0
RATE = 300  # requests a second: 450 a color in a window at 50%


@pytest.fixture(scope="module")
def stack() -> Iterator[DemoStack]:
    with DemoStack("slower") as s:
        yield s


def demo_analysis(stack: DemoStack, judge: Judge) -> Analysis:
    """The demo profile's own bounds (max_p99_ms 35, max_p99_ratio 3), shorter windows."""
    deploy = demo_profile(stack.proxy_url).deploy
    assert deploy is not None
    analysis = deploy.options["analysis"]
    assert isinstance(analysis, Analysis) and isinstance(analysis.judge, BoundsJudge)
    return replace(analysis, interval=WINDOW_S, judge=judge)


async def canary(stack: DemoStack, judge: Judge, seconds: float) -> DeployDriver:
    profile = demo_profile(stack.proxy_url)
    plan = build_plan(
        profile, Overrides(executor="constant-arrival-rate", rate=RATE, duration=seconds)
    )
    strategy = Canary(demo_analysis(stack, judge), steps=[50, 100])
    driver = DeployDriver(strategy, SurgeProxyRouter(stack.admin_url))
    await RunSession(plan, deploy=driver, prepare=False, until_settled=True).run()
    return driver


@pytest.mark.serial  # latency against a deadline: alone, after the parallel part
def test_the_statistical_judge_rolls_back_a_green_15_percent_slower(stack: DemoStack) -> None:
    driver = asyncio.run(canary(stack, StatisticalJudge(), 1.5 * WINDOW_S))
    assert driver.phase is Phase.ROLLED_BACK, [e.message for e in driver.events]
    failed = [e for e in driver.events if e.kind is EventKind.ANALYSIS_FAILED]
    assert failed and "significant at 0.99: fail" in failed[0].message
    assert failed[0].message.startswith("p50 +")


@pytest.mark.serial
def test_the_demo_bounds_pass_the_same_green(stack: DemoStack) -> None:
    driver = asyncio.run(canary(stack, BoundsJudge(), 1.5 * WINDOW_S))
    assert driver.phase is Phase.PROMOTED, [e.message for e in driver.events]
