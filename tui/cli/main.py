"""`surge` on the command line: `run` (headless), `sut` (the demo server), and the app.

Exit codes: 0 passed, 99 thresholds failed (as k6), 2 bad input, 1 anything else.
Bad input is one line naming the culprit, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from engine import serve
from engine.errors import ConfigError
from engine.exit_codes import EXIT_BAD_INPUT, EXIT_ERROR
from engine.load.controller import Controller
from engine.load.executors import EXECUTORS
from engine.load.run import RunPlan, RunResult, Snapshot
from engine.load.stages import parse_stages
from engine.load.testtypes import ALIASES, TEST_TYPES
from engine.load.thresholds import parse_cli_threshold
from engine.profile.loader import Profile, ProfileError, adhoc_profile, load_profile, parse_header
from engine.profile.plan import Overrides, build_plan
from engine.report.document import ReportError, write_report
from engine.report.summary import progress_line, render_summary
from tui.cli import proxy_cmd, report_cmd
from tui.cli.argtypes import duration, positive, positive_int


class BadInput(Exception):
    """Exit code 2 with this one line."""


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", help="a profile file (.toml) or a URL for an ad-hoc test")
    load = p.add_argument_group("load")
    load.add_argument("--executor", choices=EXECUTORS, help="k6 executor")
    load.add_argument(
        "--type",
        dest="test_type",
        choices=[*TEST_TYPES, *ALIASES],
        help="test type: a load shape built from the profile's expected load",
    )
    load.add_argument("--vus", type=positive_int, help="virtual users (preAllocatedVUs if open)")
    load.add_argument("--max-vus", type=positive_int, help="maxVUs of arrival-rate executors")
    load.add_argument("--rate", type=positive, help="iterations per second (open model)")
    load.add_argument("--duration", type=duration, help="e.g. 30s, 1m30s")
    load.add_argument("--iterations", type=positive_int, help="total iterations")
    load.add_argument(
        "--stages", help='e.g. "30s:50,1m:50,30s:0" (targets: VUs, or rates with --rate)'
    )
    load.add_argument("--time-scale", type=float, help="multiply test-type shape durations")
    p.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="METRIC:EXPR",
        help='repeatable, e.g. "http_req_duration:p(95)<500"',
    )
    p.add_argument("--report", metavar="FILE", help="write a TOML report (also on Ctrl+C)")
    p.add_argument("--env", help="the profile environment to use ([environments.NAME])")
    p.add_argument("--base-url", help="override the profile's base URL")
    p.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'")
    p.add_argument("--method", default="GET", help="ad-hoc URL only")
    p.add_argument("--body", help="ad-hoc URL only: the request body")
    p.add_argument("--client", choices=("wire", "httpx"), help="wire (fast) or httpx (HTTP/2)")
    p.add_argument(
        "--workers",
        type=positive_int,
        help="engine processes (default: one per core, less one for a target on this machine)",
    )
    p.add_argument("--interval", type=duration, default=1.0, help=argparse.SUPPRESS)
    p.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="the live progress line on stderr (auto: only on a terminal)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="surge",
        description="Interactive terminal load tester and blue/green traffic console.",
        epilog="Without a command, surge opens the live console: surge [PROFILE] [--type TYPE] "
        "[--start] [--env NAME] [--profiles DIR] [--base-url URL] (surge PROFILE --help).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser("run", help="run a load test headless (CI, SSH one-liners)")
    add_run_arguments(run)
    run.set_defaults(func=cmd_run)
    demo = sub.add_parser(
        "demo",
        help="blue and green demo servers behind surge proxy, a load test and a canary rollout",
    )
    from tui.cli import demo as demo_module

    demo_module.add_arguments(demo)
    demo.set_defaults(func=cmd_demo)
    sut = sub.add_parser("sut", help="serve the embedded demo system under test")
    from engine.sut import server as sut_module

    sut_module.add_arguments(sut)
    sut.set_defaults(func=cmd_sut)
    for module in (report_cmd, proxy_cmd):
        module.register(sub)
    return parser


def load_target(args: argparse.Namespace) -> Profile:
    headers = []
    for h in args.header:
        try:
            headers.append(parse_header(h))
        except ValueError as exc:
            raise BadInput(f"--header: {exc}") from None
    target: str = args.target
    if target.startswith(("http://", "https://")):
        body = args.body.encode() if args.body is not None else None
        try:
            return adhoc_profile(target, method=args.method.upper(), headers=headers, body=body)
        except ValueError as exc:
            raise BadInput(str(exc)) from None
    if not Path(target).exists():
        raise BadInput(f"{target}: no such profile file (or give a URL: http://...)")
    profile = load_profile(target, env=args.env, base_url=args.base_url)
    if headers:
        from dataclasses import replace

        profile = replace(profile, headers=(*profile.headers, *headers))
    return profile


def plan_from_args(args: argparse.Namespace) -> RunPlan:
    profile = load_target(args)
    try:
        stages = parse_stages(args.stages) if args.stages else None
        thresholds = tuple(parse_cli_threshold(t) for t in args.threshold)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    overrides = Overrides(
        executor=args.executor,
        test_type=args.test_type,
        vus=args.vus,
        max_vus=args.max_vus,
        rate=args.rate,
        duration=args.duration,
        iterations=args.iterations,
        stages=stages,
        time_scale=args.time_scale,
        client=args.client,
        workers=args.workers,
        thresholds=thresholds,
    )
    try:
        return build_plan(profile, overrides, interval=args.interval)
    except ConfigError as exc:
        raise BadInput(str(exc)) from None


async def run_headless(plan: RunPlan, *, progress: bool, report: str | None) -> RunResult:
    out = sys.stderr

    def show(s: Snapshot) -> None:
        if progress:
            out.write("\r\x1b[2K" + progress_line(s))
            out.flush()

    controller = Controller(plan, on_snapshot=show)
    loop = asyncio.get_running_loop()
    presses = 0

    def interrupt() -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            out.write("\n  stopping gracefully (Ctrl+C again aborts)...\n")
            controller.stop("interrupted (Ctrl+C)")
        else:
            controller.abort("aborted (Ctrl+C twice)")

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupt)
    try:
        result = await controller.run()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    if progress:
        out.write("\n")
    if report:
        path = write_report(result, report)
        out.write(f"  report written to {path}\n")
    return result


def cmd_run(args: argparse.Namespace) -> int:
    plan = plan_from_args(args)
    if args.report:
        _check_writable(args.report)
    progress = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    with asyncio.Runner(loop_factory=serve.new_event_loop) as runner:
        result = runner.run(run_headless(plan, progress=progress, report=args.report))
    color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    print(render_summary(result, color=color))
    return result.exit_code


def _check_writable(path: str) -> None:
    """Fail before the run, not after it, when the report cannot be written."""
    folder = Path(path).resolve().parent
    probe = folder
    while not probe.exists():
        probe = probe.parent
    if not os.access(probe, os.W_OK):
        raise BadInput(f"--report {path}: cannot write to {folder}")


def cmd_sut(args: argparse.Namespace) -> int:
    from engine.sut import server as sut

    try:
        cfg = sut.config_from_args(args)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    return sut.serve_forever(cfg)


def cmd_demo(args: argparse.Namespace) -> int:
    from tui.cli.demo import main as demo_main

    return demo_main(args)


def _commands(parser: argparse.ArgumentParser) -> set[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


def wants_app(parser: argparse.ArgumentParser, argv: Sequence[str]) -> bool:
    """No command (nothing, a profile path, or app flags): the live console."""
    if not argv:
        return True
    first = argv[0]
    return first not in _commands(parser) and first not in ("-h", "--help")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if wants_app(parser, argv):
        from tui.cli import app_cmd

        return app_cmd.main(argv)
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0
    try:
        return int(func(args))
    except (BadInput, ProfileError, ConfigError, ReportError) as exc:
        print(f"surge: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
