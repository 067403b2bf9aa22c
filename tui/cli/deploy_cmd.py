"""`surge deploy compare PROFILE`: every strategy against the same instances and load.

For each strategy in turn: a fresh `surge proxy` with empty pools on free loopback
ports, the profile's blue instances started from its recipes (the shipped demo profile,
whose colors are URLs, gets the demo server as its recipes: `--instances` of each, green
with `--green-flaw`), the load shape through the proxy and the rollout, until the
rollout settles (engine.deploy.compare). Then one table, and `--json FILE` for the rows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from engine.deploy.compare import (
    ALIASES,
    COMPARED,
    MAX_ROLLOUT_S,
    CompareRow,
    held_longer,
    render_table,
    strategy_for,
)
from engine.deploy.recipe import Recipe
from engine.deploy.strategies import strategy_name
from engine.exit_codes import EXIT_OK
from engine.profile import Profile, load_profile, resolve_profile
from profiles import SHIPPED
from tui.cli.argtypes import duration, tell_notes
from tui.cli.demo_stack import BLUE_ARGS, FLAWS, ROOT, START_TIMEOUT_S, _readline, sut_recipe
from tui.cli.run_cmd import BadInput

DEMO = SHIPPED / "demo.toml"
DEMO_INSTANCES = 3


def register(sub: Any) -> None:
    deploy = sub.add_parser("deploy", help="deployment strategies: compare them side by side")
    actions = deploy.add_subparsers(dest="deploy_command", metavar="ACTION", required=True)
    compare = actions.add_parser(
        "compare",
        help="run each strategy against the same instances and load, one after the other",
        description="Each strategy's rollout from fresh blue instances to its end, under the "
        "profile's load shape: time, peak instances, lowest serving count, requests the new "
        "version served, users' errors and p99.",
    )
    compare.add_argument("profile", help="a profile whose [deploy] colors are recipes, or demo")
    compare.add_argument(
        "--strategies",
        default=",".join(COMPARED),
        help=f"comma-separated, in order (default {','.join(COMPARED)})",
    )
    compare.add_argument(
        "--green-flaw",
        choices=tuple(FLAWS),
        default="latency",
        help="the demo profile only: what is wrong with green: latency (the default, as "
        "surge demo's), errors, none",
    )
    compare.add_argument(
        "--instances",
        type=int,
        default=DEMO_INSTANCES,
        help=f"the demo profile only: instances of each color (default {DEMO_INSTANCES})",
    )
    compare.add_argument(
        "--type", dest="test_type", help="test type of the load (default: average)"
    )
    compare.add_argument(
        "--time-scale",
        type=float,
        default=None,
        help="load shape speed-up (default: the profile's)",
    )
    compare.add_argument(
        "--max-rollout",
        type=duration,
        default=MAX_ROLLOUT_S,
        metavar="DURATION",
        help="the load's peak is held up to this much longer, for a rollout that outlasts "
        "the shape; one still going then is cut (default 5m)",
    )
    compare.add_argument("--json", metavar="FILE", help="also write the rows as JSON here")
    compare.add_argument("--verbose", action="store_true", help="print every rollout event")
    compare.set_defaults(func=cmd_compare)


def strategies_of(text: str) -> list[str]:
    """The names `--strategies` gives, as the current names ("switch" read, with a note)."""
    names = []
    for given in (n.strip() for n in text.split(",") if n.strip()):
        try:
            name, renamed = strategy_name(given, COMPARED)
        except ValueError as exc:
            if given not in ALIASES:
                raise BadInput(f"--strategies: {exc}") from None
            name, renamed = ALIASES[given], None
        if renamed:
            print(f"surge deploy: note: --strategies: {renamed}", file=sys.stderr)
        names.append(name)
    if not names:
        raise BadInput("--strategies: name at least one")
    return names


def demo_recipes(green_flaw: str, instances: int) -> dict[str, Recipe]:
    """The demo server as both colors' recipe: the stack `surge demo` runs, N of each."""
    return {
        "blue": replace(sut_recipe("blue", BLUE_ARGS), instances=instances),
        "green": replace(sut_recipe("green", FLAWS[green_flaw]), instances=instances),
    }


def with_recipes(profile: Profile, args: argparse.Namespace) -> Profile:
    plan = profile.deploy
    if plan is None:
        raise BadInput(f"{profile.source}: no [deploy] table (blue and green)")
    if plan.recipes:
        return profile
    if Path(profile.source).resolve() != DEMO.resolve():
        raise BadInput(
            f"{profile.source}: [deploy] blue and green must be recipes (tables with a command):"
            " the comparison starts and stops the instances itself"
        )
    if not 1 <= args.instances <= 16:
        raise BadInput(f"--instances: expected 1..16, got {args.instances}")
    recipes = demo_recipes(args.green_flaw, args.instances)
    return replace(profile, deploy=replace(plan, blue=(), green=(), recipes=recipes))


@contextmanager
def empty_proxy(folder: Path) -> Iterator[tuple[str, str]]:
    """`surge proxy` on free loopback ports with empty pools (file:// registries holding
    `[]`): the fleet adds every instance. Yields (proxy URL, admin URL)."""
    from engine.deploy.routers.base import stop_process

    empty = folder / "empty.json"
    empty.write_text("[]")
    registry = f"file://{empty}"
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "tui.cli.proxy_cmd", "--listen", "127.0.0.1:0"),
            *("--admin", "127.0.0.1:0", "--blue", registry, "--green", registry),
        ],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = _readline(proc, START_TIMEOUT_S)
        if "listening on" not in line:
            raise RuntimeError(f"surge proxy did not start: {line.strip()!r}")
        words = line.replace("(", " ").replace(")", " ").split()
        yield words[words.index("on") + 1], words[words.index("admin") + 1]
    finally:
        stop_process(proc)
        if proc.stdout is not None:
            proc.stdout.close()


def compare_one(name: str, profile: Profile, args: argparse.Namespace, folder: Path) -> CompareRow:
    from engine.deploy.compare_run import measure
    from engine.deploy.routers import SurgeProxyRouter
    from engine.deploy.setup import profile_driver
    from engine.profile.plan import Overrides, build_plan
    from tui.cli.rollout import print_event

    with empty_proxy(folder) as (proxy_url, admin_url):
        here = replace(profile, base_url=proxy_url)
        assert here.deploy is not None
        test_type = args.test_type or (None if profile.load is not None else "average")
        plan = build_plan(here, Overrides(test_type=test_type, time_scale=args.time_scale))
        work = plan.work.with_only(executor=held_longer(plan.work.only.executor, args.max_rollout))
        plan = replace(plan, work=work)
        driver = profile_driver(
            here,
            strategy=strategy_for(here.deploy, name),
            router=SurgeProxyRouter(admin_url),
            proxy_url=proxy_url,
            on_event=print_event if args.verbose else None,
            log_dir=folder / name,
        )
        try:
            return asyncio.run(_unless_signalled(measure(name, driver, plan)))
        finally:  # asyncio leaves them at SIG_DFL: the way out between strategies again
            for sig in SIGNALS:
                signal.signal(sig, as_ctrl_c)


async def _unless_signalled(run: Coroutine[Any, Any, CompareRow]) -> CompareRow:
    """SIGTERM or SIGHUP while a strategy runs cancels it at an await, so its `finally`
    stops its instances (none is started but not yet registered), then ends as Ctrl+C."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    signalled: list[int] = []

    def cancel(sig: int) -> None:
        signalled.append(sig)
        task.cancel()

    for sig in SIGNALS:
        loop.add_signal_handler(sig, cancel, sig)
    try:
        return await run
    except asyncio.CancelledError:
        if signalled:
            raise KeyboardInterrupt(signal.Signals(signalled[0]).name) from None
        raise
    finally:
        for sig in SIGNALS:
            loop.remove_signal_handler(sig)


SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def as_ctrl_c(signum: int, _frame: object) -> None:
    """A SIGTERM or SIGHUP ends a comparison (between strategies) or `surge router` as
    Ctrl+C does, so the proxy or router is stopped on the way out (the default would not)."""
    raise KeyboardInterrupt(signal.Signals(signum).name)


def cmd_compare(args: argparse.Namespace) -> int:
    names = strategies_of(args.strategies)
    path = resolve_profile(args.profile)
    if not path.exists():
        raise BadInput(f"{args.profile}: no such profile file")
    profile = with_recipes(tell_notes(args, load_profile(path)), args)
    rows: list[CompareRow] = []
    previous = {sig: signal.signal(sig, as_ctrl_c) for sig in SIGNALS}
    try:
        with tempfile.TemporaryDirectory(prefix="surge-compare-") as tmp:
            for name in names:
                print(f"  compare: {name}...", file=sys.stderr, flush=True)
                row = compare_one(name, profile, args, Path(tmp))
                rows.append(row)
                print(f"  compare: {name}: {row.outcome}", file=sys.stderr, flush=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("\n".join(render_table(rows, shutil.get_terminal_size().columns)))
    if args.json:
        Path(args.json).write_text(json.dumps([r.as_dict() for r in rows], indent=2) + "\n")
    return EXIT_OK
