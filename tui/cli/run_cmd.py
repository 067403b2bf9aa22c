"""`surge run TARGET`: a load test headless, for CI and SSH one-liners.

TARGET is a profile (a path, or the name of a shipped one) or a URL for an
ad-hoc test. The summary goes to stdout, the live progress line to stderr;
Ctrl+C, SIGTERM or SIGHUP stops gracefully and a second one aborts, the report
written either way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from dataclasses import replace
from typing import Any

from engine import serve
from engine.deploy.driver import DeployDriver
from engine.deploy.record import rollout_exit_code
from engine.errors import ConfigError
from engine.load.controller import Controller
from engine.load.executors import EXECUTORS
from engine.load.run import RunPlan, RunResult, Snapshot
from engine.load.stages import parse_stages
from engine.load.states import StopReason, checkpoint_reason
from engine.load.thresholds import parse_cli_threshold
from engine.profile import Profile, adhoc_profile, load_profile, parse_header, resolve_profile
from engine.profile.plan import Overrides, build_plan
from engine.report.deploy_section import deploy_table, render_deploy
from engine.report.document import (
    build_report,
    unwritable,
    write_report_or_fallback,
    write_toml,
)
from engine.report.summary import Paint, progress_line, render_summary
from tui.cli import rollout
from tui.cli.argtypes import duration, positive_int
from tui.cli.flags import (
    add_http_flags,
    add_load_flags,
    add_profile_flags,
    add_tls_flags,
    load_overrides,
)


class BadInput(Exception):
    """Exit code 2 with this one line."""


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "target",
        help="a profile (a .toml file, or a shipped one by name) or a URL for an ad-hoc test",
    )
    add_profile_flags(p, type_help="test type: a load shape built from the profile's expected load")
    load = p.add_argument_group("load")
    load.add_argument("--executor", choices=EXECUTORS, help="k6 executor")
    add_load_flags(load)
    add_http_flags(p)
    add_tls_flags(p)
    load.add_argument("--max-vus", type=positive_int, help="maxVUs of arrival-rate executors")
    load.add_argument("--iterations", type=positive_int, help="total iterations")
    load.add_argument(
        "--stages", help='e.g. "30s:50,1m:50,30s:0" (targets: VUs, or rates with --rate)'
    )
    p.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="METRIC:EXPR",
        help='repeatable, e.g. "http_req_duration:p(95)<500"',
    )
    p.add_argument("--report", metavar="FILE", help="write a TOML report (also on Ctrl+C)")
    p.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'")
    p.add_argument("--method", default="GET", help="ad-hoc URL only")
    p.add_argument("--body", help="ad-hoc URL only: the request body")
    p.add_argument("--client", choices=("wire", "httpx"), help="wire (fast) or httpx (HTTP/2)")
    p.add_argument("--interval", type=duration, default=1.0, help=argparse.SUPPRESS)
    p.add_argument(
        "--checkpoint-every", type=duration, default=CHECKPOINT_S, help=argparse.SUPPRESS
    )
    p.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="the live progress line on stderr (auto: only on a terminal)",
    )


def register(sub: Any) -> None:
    run = sub.add_parser("run", help="run a load test headless (CI, SSH one-liners)")
    add_run_arguments(run)
    run.set_defaults(func=cmd_run)


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
    path = resolve_profile(target)
    if not path.exists():
        raise BadInput(f"{target}: no such profile file (or give a URL: http://...)")
    profile = load_profile(path, env=args.env, base_url=args.base_url)
    if headers:
        profile = replace(profile, headers=(*profile.headers, *headers))
    return profile


def plan_from_args(args: argparse.Namespace, profile: Profile | None = None) -> RunPlan:
    profile = profile or load_target(args)
    try:
        stages = parse_stages(args.stages) if args.stages is not None else None
        thresholds = tuple(parse_cli_threshold(t) for t in args.threshold)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    overrides = Overrides(
        **load_overrides(args),
        executor=args.executor,
        test_type=args.test_type,
        max_vus=args.max_vus,
        iterations=args.iterations,
        stages=stages,
        client=args.client,
        max_body=args.max_body,
        timeout=args.timeout,
        insecure=args.insecure,
        cacert=args.cacert,
        cert=args.cert,
        key=args.key,
        thresholds=thresholds,
    )
    try:
        return build_plan(profile, overrides, interval=args.interval)
    except ConfigError as exc:
        raise BadInput(str(exc)) from None


# SIGINT (Ctrl+C), SIGTERM (kill, CI timeouts) and SIGHUP (an SSH session that drops)
# all stop gracefully and keep the report; a second one of any kind aborts.
STOP_SIGNALS = {
    signal.SIGINT: StopReason.INTERRUPTED,
    signal.SIGTERM: StopReason.TERMINATED,
    signal.SIGHUP: StopReason.HUNG_UP,
}
CHECKPOINT_S = 60.0  # a long run rewrites its report this often: a power cut loses less


async def run_headless(
    plan: RunPlan,
    *,
    progress: bool,
    report: str | None,
    checkpoint: float = CHECKPOINT_S,
    deploy: DeployDriver | None = None,
) -> RunResult:
    out = sys.stderr

    def say(text: str) -> None:
        with contextlib.suppress(OSError, ValueError):  # the terminal may be gone (SIGHUP)
            out.write(text)
            out.flush()

    def show(s: Snapshot) -> None:
        if deploy is not None:
            deploy.observe(controller.model)
        if progress:
            say("\r\x1b[2K" + progress_line(s))

    controller = Controller(plan, on_snapshot=show)
    loop = asyncio.get_running_loop()
    signals = 0

    def interrupt(reason: StopReason) -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            say(f"\n  {reason}: stopping gracefully (Ctrl+C again aborts)...\n")
            controller.stop(reason)
        else:
            controller.abort(
                StopReason.INTERRUPTED_TWICE
                if reason is StopReason.INTERRUPTED
                else StopReason.SIGNALLED_TWICE
            )

    for sig, reason in STOP_SIGNALS.items():
        loop.add_signal_handler(sig, interrupt, reason)
    saver = (
        asyncio.create_task(_checkpoints(controller, report, checkpoint, deploy))
        if report
        else None
    )
    if deploy is not None:
        deploy.start()
    try:
        result = await controller.run()
    finally:
        if saver is not None:
            saver.cancel()
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
        if deploy is not None:  # the run's end, a signal or a crash: on_exit applies
            await deploy.finish()
    if progress:
        say("\n")
    if report:
        record = deploy.final if deploy is not None else None
        path, problem = write_report_or_fallback(result, report, record)
        say(f"  surge: warning: {problem}\n" if problem else f"  report written to {path}\n")
    return result


async def _checkpoints(
    controller: Controller, report: str, every: float, deploy: DeployDriver | None = None
) -> None:
    """Rewrite the report every `every` seconds while the run goes, marked aborted: if
    the machine dies, what is on disk is a valid report of all but the last minute."""
    while True:
        await asyncio.sleep(every)
        reason = checkpoint_reason(controller.model.elapsed)
        partial = controller.result(aborted=True, stop_reason=reason)
        record = deploy.record() if deploy is not None else None
        data = build_report(partial, record)  # on the loop: the model is consistent right now
        with contextlib.suppress(OSError):
            await asyncio.to_thread(write_toml, data, report)


def cmd_run(args: argparse.Namespace) -> int:
    profile = load_target(args)
    plan = plan_from_args(args, profile)
    if args.report and (why := unwritable(args.report)):
        raise BadInput(f"--report {args.report}: {why}")
    progress = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    with asyncio.Runner(loop_factory=serve.new_event_loop) as runner:
        deploy = rollout.driver_for_run(profile)
        result = runner.run(
            run_headless(
                plan,
                progress=progress,
                report=args.report,
                checkpoint=args.checkpoint_every,
                deploy=deploy,
            )
        )
    return finish_summary(result, deploy)


def finish_summary(result: RunResult, deploy: DeployDriver | None) -> int:
    """The summary (with the rollout's section) on stdout; the exit code, rollout included."""
    color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    print(render_summary(result, color=color))
    record = deploy.final if deploy is not None else None
    if record is not None:
        print("\n".join(render_deploy(deploy_table(record), Paint(color))) + "\n")
    return rollout_exit_code(result.exit_code, record)
