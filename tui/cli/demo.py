"""`surge demo`: the main job on embedded defaults, with nothing outside this machine.

Starts a blue and a green demo server (green with a chosen flaw) behind `surge proxy`
(the servers from recipes, through the launcher every recipe's instances go through),
then opens the live console on profiles/demo.toml: an average-load test through the
proxy with the deploy panel open and the rollout already going. `q` leaves the app and
the stack stops with it (a context manager: no process is left, whatever happens).
`--headless` runs the same stack and rollout with `surge run` semantics and prints the
rollout's log and the summary, for CI and for SSH without a terminal.

`--mirror` and `--cohort` put those steps before the canary's weights: green answers
copies of the load first (nobody sees its answers), then a cohort (a share of the load
sends `x-beta: 1`, routed to green whatever the weights), then the weights move.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from engine.deploy.compare import strategy_for
from engine.deploy.strategies import RENAMED, Manual, Strategy, strategy_name
from engine.exit_codes import EXIT_BAD_INPUT
from engine.profile import Profile, parse_profile
from engine.profile.deploy_judge import JUDGES, judge_named
from engine.profile.deploy_traffic import NO_MIRROR
from engine.profile.loader import ProfileError
from engine.profile.plan import Overrides, build_plan
from profiles import SHIPPED
from tui.cli.argtypes import WithDefaults
from tui.cli.demo_stack import FLAWS, ROUTERS, DemoStack

if TYPE_CHECKING:  # the driver (httpx, the routers) loads when a demo starts
    from engine.deploy.driver import DeployDriver, EventHook
    from tui.app.app import SurgeApp

PROFILE = SHIPPED / "demo.toml"
DEMO_STRATEGIES = ("canary", "linear", "bluegreen", "manual")
TRAFFIC_STEPS = ("mirror", "cohort")  # in the order they come before the weights
_STEPS = "steps = [10, 25, 50, 100]"
_TRAFFIC_TEXT = {
    "mirror": "{ mirror = 100 }, ",
    "cohort": '"cohort", ',
}
# a share of the load is the beta cohort, routed to green from the cohort step on
_COHORT_TOML = """
[[endpoints]]
name = "beta"
path = "/"
headers = { x-beta = "1" }
weight = 0.25
checks = [{ status = 200 }]

[[deploy.routes]]
header = "x-beta"
value = "1"
color = "green"
cohort = "beta"
"""


def register(sub: Any) -> None:
    demo = sub.add_parser(
        "demo",
        help="blue and green demo servers behind surge proxy, a load test and a canary rollout",
        epilog="example: surge demo --green-flaw errors --strategy linear --headless",
        formatter_class=WithDefaults,
    )
    add_arguments(demo)
    demo.set_defaults(func=main)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--green-flaw",
        choices=tuple(FLAWS),
        default="latency",
        help="what is wrong with green: latency (40 ms vs blue's 5 ms), errors (10%%), "
        "slower (5.75 ms: 15%%), none",
    )
    p.add_argument(
        "--strategy",
        type=_strategy,
        choices=DEMO_STRATEGIES,
        default="canary",
        help="the rollout (default canary: 10, 25, 50, 100%% of traffic, judged every 5 s)",
    )
    p.add_argument(
        "--router",
        choices=ROUTERS,
        default="surge",
        help="what steers traffic: surge proxy (default), haproxy (Debian's), envoy (PyPI's)",
    )
    p.add_argument(
        "--mirror",
        action="store_true",
        help="first a mirror step: green answers copies of the load, judged on the pairs",
    )
    p.add_argument(
        "--cohort",
        action="store_true",
        help="then a cohort step: requests with x-beta: 1 (a fifth of them) go to green",
    )
    p.add_argument(
        "--judge",
        choices=JUDGES,
        default="bounds",
        help="bounds: the profile's fixed bounds; statistical: significance against blue "
        "(try it with --green-flaw slower: 15%% slower, inside the bounds)",
    )
    p.add_argument(
        "--time-scale", type=float, default=None, help="shape speed-up (default: the profile's)"
    )
    p.add_argument(
        "--headless", action="store_true", help="no console: print the rollout and the summary"
    )
    p.add_argument("--report", metavar="FILE", help="--headless: write the TOML report here")


def _strategy(text: str) -> str:
    """argparse type for --strategy: an old name ("switch") read as today's, with a note."""
    if text not in RENAMED:
        return text  # argparse's choices judge it
    name, note = strategy_name(text)
    print(f"surge demo: note: --strategy: {note}", file=sys.stderr)
    return name


def demo_strategy(profile: Profile, name: str, judge: str = "bounds") -> Strategy:
    """The profile's canary, or another strategy with the same analysis bounds, as
    `surge deploy compare` builds them (engine.deploy.compare.strategy_for).

    Blue/green smokes green first (judged on the same bounds, over one interval), so
    a flawed green is rolled back before it takes any of the load.
    """
    deploy = profile.deploy
    assert deploy is not None
    if name == "manual":
        return Manual(10)
    analysis = deploy.options.get("analysis")
    if analysis is not None and judge != "bounds":  # --judge: the same windows, judged so
        options = {**deploy.options, "analysis": replace(analysis, judge=judge_named(judge))}
        deploy = replace(deploy, options=options)
    return strategy_for(deploy, name)


def demo_profile(proxy_url: str, traffic: tuple[str, ...] = ()) -> Profile:
    """The demo profile, with the `traffic` steps (TRAFFIC_STEPS) before its weights."""
    return parse_profile(demo_text(traffic), str(PROFILE), base_url=proxy_url)


def demo_text(traffic: tuple[str, ...] = ()) -> str:
    """profiles/demo.toml with a mirror and/or a cohort step before the canary's weights
    (and the cohort's routes and the load that matches them)."""
    text = PROFILE.read_text(encoding="utf-8")
    if not traffic:
        return text
    assert _STEPS in text, "profiles/demo.toml's canary steps changed: see TRAFFIC_STEPS"
    first = "".join(_TRAFFIC_TEXT[t] for t in TRAFFIC_STEPS if t in traffic)
    text = text.replace(_STEPS, f"steps = [{first}10, 25, 50, 100]")
    return text + (_COHORT_TOML if "cohort" in traffic else "")


def traffic_of(args: argparse.Namespace) -> tuple[str, ...]:
    return tuple(t for t in TRAFFIC_STEPS if getattr(args, t, False))


def demo_driver(
    stack: DemoStack,
    profile: Profile,
    strategy: str,
    *,
    autostart: bool = False,
    on_event: EventHook | None = None,
    judge: str = "bounds",
) -> DeployDriver:
    """The demo's rollout through the stack's proxy, smoking on the profile's own path."""
    from engine.deploy.setup import profile_driver

    return profile_driver(
        profile,
        strategy=demo_strategy(profile, strategy, judge),
        router=stack.router(),
        proxy_url=stack.proxy_url,
        autostart=autostart,
        on_event=on_event,
    )


def main(args: argparse.Namespace) -> int:
    if args.router == "envoy":  # an extra: one line, not a traceback from deep in the stack
        from engine.deploy.routers.envoy import NOT_INSTALLED, envoy_binary

        if envoy_binary() is None:
            print(f"surge demo: --router envoy: {NOT_INSTALLED}", file=sys.stderr)
            return EXIT_BAD_INPUT
    traffic = traffic_of(args)
    if "mirror" in traffic and args.router in NO_MIRROR:
        print(
            f"surge demo: --mirror: {NO_MIRROR[args.router]}: use --router surge or envoy",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    if traffic and args.strategy != "canary":
        message = "--mirror and --cohort are canary steps: use --strategy canary"
        print(f"surge demo: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        plan = demo_profile("http://127.0.0.1:9", traffic).deploy
    except ProfileError as exc:  # a broken shipped profile: one line, not a traceback
        print(f"surge demo: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    assert plan is not None
    flaw = "no" if args.green_flaw == "none" else args.green_flaw
    with DemoStack(
        args.green_flaw, router=args.router, routes=plan.routes, mirror=plan.mirror_methods
    ) as stack:
        print(  # a line each, within 80 columns: the URLs are not cut by the terminal
            f"  demo: blue {stack.blue_url}, green {stack.green_url} ({flaw} flaw)\n"
            f"  demo: {args.strategy} rollout through {args.router} on {stack.proxy_url}\n"
            f"  demo: {args.router}'s admin {stack.admin_url}",
            flush=True,
        )
        assert stack.launcher is not None
        print(f"  demo: the servers' output goes to {stack.launcher.log_dir}", flush=True)
        if args.headless:
            return headless(stack, args.strategy, args.time_scale, args.report, traffic, args.judge)
        return console(stack, args.strategy, args.time_scale, traffic, args.judge)


def headless(
    stack: DemoStack,
    strategy: str,
    time_scale: float | None,
    report: str | None = None,
    traffic: tuple[str, ...] = (),
    judge: str = "bounds",
) -> int:
    """`surge run` semantics: each rollout event as it happens, then the summary with the
    rollout's section; a rolled-back green exits EXIT_ROLLED_BACK (99 wins)."""
    from tui.cli.rollout import announce, print_event
    from tui.cli.run_cmd import finish_summary, run_headless

    profile = demo_profile(stack.proxy_url, traffic)
    plan = build_plan(profile, Overrides(test_type="average", time_scale=time_scale))
    driver = demo_driver(stack, profile, strategy, on_event=print_event, judge=judge)
    announce(driver)
    return finish_summary(
        asyncio.run(run_headless(plan, progress=False, report=report, deploy=driver))
    )


def console(
    stack: DemoStack,
    strategy: str,
    time_scale: float | None,
    traffic: tuple[str, ...] = (),
    judge: str = "bounds",
) -> int:
    from tui.cli.app_cmd import run_app

    # a lost terminal ends the process by the watchdog's os._exit: the stack stops first
    app = demo_app(stack, strategy, time_scale, traffic, judge)
    return run_app(app, also_stop=stack.stop)


def demo_app(
    stack: DemoStack,
    strategy: str,
    time_scale: float | None,
    traffic: tuple[str, ...] = (),
    judge: str = "bounds",
) -> SurgeApp:
    """The console on the demo profile through the stack's proxy, the rollout going; with
    `traffic` steps, on a copy of the profile with them beside the servers' logs."""
    from tui.app.app import make_app
    from tui.app.session import RunSetup

    def deploy_factory(setup: RunSetup) -> DeployDriver:
        return demo_driver(stack, setup.profile, strategy, autostart=True, judge=judge)

    profile = PROFILE
    if traffic:
        assert stack.launcher is not None
        profile = stack.launcher.log_dir / f"demo-{'-'.join(traffic)}.toml"
        profile.write_text(demo_text(traffic), encoding="utf-8")
    return make_app(
        profile,
        test_type="average",
        start=True,
        base_url=stack.proxy_url,
        search_default_dirs=False,
        overrides=Overrides(time_scale=time_scale),
        deploy_factory=deploy_factory,
        admin_url=stack.admin_url,  # the probe checks the proxy the rollout really uses
    )
