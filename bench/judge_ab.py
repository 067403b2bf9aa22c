"""How often does each judge roll back? Fixed bounds against the statistical judge.

    python bench/judge_ab.py [--rounds 10] [--window 2] [--flaws none,slower]

For each green flaw (`none`: as fast as blue's 5 ms; `slower`: 5.75 ms, 15% slower),
one demo stack (blue and green `surge sut` behind `surge proxy`), then `--rounds`
canaries of each judge in turn (50, then 100% of 200 requests a second, `--window`
seconds a step) with the demo profile's bounds (max_p99_ms 35, max_p99_ratio 3): the
same ones `tests/integration/test_statistical_judge.py` runs once. It prints, per flaw
and judge, how many canaries rolled back, and the first failed verdict's reason.
Rounds alternate the judges, so drift on a shared machine hits both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.deploy.driver import DeployDriver
from engine.deploy.routers import SurgeProxyRouter
from engine.deploy.strategies import Analysis, Canary, EventKind, Phase
from engine.deploy.strategies.analysis import BOUNDS, Judge, StatisticalJudge
from engine.profile.plan import Overrides, build_plan
from engine.run_session import RunSession
from tui.cli.demo import demo_profile
from tui.cli.demo_stack import DemoStack

JUDGES: dict[str, Judge] = {"bounds": BOUNDS, "statistical": StatisticalJudge()}


async def one_canary(stack: DemoStack, judge: Judge, window: float) -> DeployDriver:
    """A canary of the demo profile's analysis (its bounds, `window`-second steps)."""
    profile = demo_profile(stack.proxy_url)
    assert profile.deploy is not None
    analysis = profile.deploy.options["analysis"]
    assert isinstance(analysis, Analysis)
    strategy = Canary(replace(analysis, interval=window, judge=judge), steps=[50, 100])
    overrides = Overrides(executor="constant-arrival-rate", rate=200, duration=1.5 * window)
    driver = DeployDriver(strategy, SurgeProxyRouter(stack.admin_url))
    plan = build_plan(profile, overrides)
    await RunSession(plan, deploy=driver, prepare=False, until_settled=True).run()
    return driver


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--window", type=float, default=2.0, help="seconds a canary step")
    p.add_argument("--flaws", default="none,slower")
    args = p.parse_args()
    print(f"{'green':8} {'judge':12} {'rolled back':>12}  first reason")
    for flaw in args.flaws.split(","):
        backs: Counter[str] = Counter()
        reasons: dict[str, str] = {}
        with DemoStack(flaw) as stack:
            for _ in range(args.rounds):
                for name, judge in JUDGES.items():
                    driver = asyncio.run(one_canary(stack, judge, args.window))
                    if driver.phase is Phase.ROLLED_BACK:
                        backs[name] += 1
                        failed = [e for e in driver.events if e.kind is EventKind.ANALYSIS_FAILED]
                        reasons.setdefault(name, failed[0].message if failed else "")
        for name in JUDGES:
            share = f"{backs[name]}/{args.rounds}"
            print(f"{flaw:8} {name:12} {share:>12}  {reasons.get(name, '-')}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
