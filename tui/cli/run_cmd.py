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
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import serve
from engine.addresses import is_url
from engine.deploy.recipe import HealthError
from engine.errors import ConfigError
from engine.exit_codes import EXIT_ERROR
from engine.load.executors import EXECUTORS
from engine.load.run import ClientKind, RunPlan
from engine.load.stages import parse_stages
from engine.load.thresholds import parse_cli_threshold
from engine.outputs import Output, parse_out
from engine.profile import Profile, adhoc_profile, load_profile, parse_header, resolve_profile
from engine.profile.plan import Overrides, build_plan, fit_duration, replaced_scenarios
from engine.report.document import unwritable
from engine.report.export import summary_json
from engine.report.k6_summary import summary_export
from engine.report.summary import Paint, render_report, verdict_line
from engine.run_session import CHECKPOINT_S, RunSession, SessionEnd
from profiles import names as shipped_names
from tui.cli import rollout
from tui.cli.progress import Progress

if TYPE_CHECKING:  # the driver (httpx, the routers) loads only for a run with [deploy]
    from engine.deploy.driver import DeployDriver
from tui.cli.argtypes import Foreign, duration, positive_int, said, tell_notes
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
    add_profile_flags(
        p,
        type_help="test type: a load shape built from the profile's expected load "
        "(with [scenarios]: each scenario's, around its own peak)",
        variables=True,
    )
    p.add_argument(
        "--scenario",
        dest="scenarios",
        action="append",
        default=[],
        metavar="NAME",
        help="repeatable: run only these of the profile's [scenarios] (k6 2.3's flag)",
    )
    p.add_argument(
        "--once",
        action="store_true",
        help="one iteration of every scenario's flow (each endpoint once), setup and teardown "
        "too: a new profile's first check (k6 2.3's flag)",
    )
    load = p.add_argument_group("load")
    load.add_argument("--executor", choices=EXECUTORS, help="k6 executor")
    add_load_flags(load)
    add_http_flags(p)
    add_tls_flags(p)
    load.add_argument("--max-vus", type=positive_int, help="maxVUs of arrival-rate executors")
    load.add_argument(
        "-i", "--iterations", type=positive_int, help="total iterations (shared-iterations)"
    )
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
    p.add_argument(
        "--summary-export",
        metavar="FILE",
        help="the end summary as JSON in k6's --summary-export format (also on Ctrl+C)",
    )
    p.add_argument(
        "--json", action="store_true", help="print the summary as JSON on stdout, not as text"
    )
    p.add_argument(
        "--out",
        action="append",
        default=[],
        metavar="KIND=WHERE",
        help="repeatable: json=FILE (a JSON object per interval, then the summary), "
        "html=FILE (the report as one HTML page, also on Ctrl+C) or "
        "prometheus=HOST:PORT[,linger=5s] (a live scrape endpoint)",
    )
    p.add_argument(
        "-H", "--header", action="append", default=[], metavar="'NAME: VALUE'", help="repeatable"
    )
    p.add_argument("--method", default="GET", help="ad-hoc URL only")
    p.add_argument("--body", help="ad-hoc URL only: the request body")
    p.add_argument(
        "--client",
        choices=[c.value for c in ClientKind],
        help="wire (the default: Surge's own, HTTP/1.1 and h2, the fastest) or httpx (the "
        "httpx library: HTTP/1.1 and h2, a second opinion)",
    )
    p.add_argument("--interval", type=duration, default=1.0, help=argparse.SUPPRESS)
    p.add_argument(
        "--checkpoint-every", type=duration, default=CHECKPOINT_S, help=argparse.SUPPRESS
    )
    p.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="the live progress line on stderr (auto, the default: only on a terminal)",
    )
    p.add_argument(
        "-q", "--quiet", action="store_true", help="no progress line (as --progress never; k6's -q)"
    )
    for flag, answer in FOREIGN_FLAGS.items():
        p.add_argument(flag, action=Foreign, said=answer)


# oha's and hey's flags, answered with the Surge flag that does the same.
FOREIGN_FLAGS = {
    "-c": "oha's connections (hey's workers): use -u/--vus",
    "-n": "oha's and hey's request count: use -i/--iterations",
    "-z": "oha's and hey's duration: use -d/--duration",
    "-m": "oha's and hey's method: use --method",
}


def foreign_rate(args: Sequence[str]) -> str | None:
    """`-q 100` is oha's rate (hey's per worker), not k6's --quiet: say so before argparse
    takes the number for the target."""
    for i, arg in enumerate(args):
        if arg == "--":
            return None
        value = args[i + 1] if arg == "-q" and i + 1 < len(args) else arg[2:]
        if arg.startswith("-q") and _is_number(value):
            return f"-q is k6's --quiet here; oha's -q {value} (a rate) is --rate {value}"
    return None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


EXAMPLES = """\
examples:
  surge run http://127.0.0.1:8080/ -u 20 -d 30s        20 VUs for 30 s (constant-vus)
  surge run http://127.0.0.1:8080/ --rate 500 -d 1m     500 iterations/s (constant-arrival-rate)
  surge run http://127.0.0.1:8080/ -i 1000 -u 10        1,000 iterations over 10 VUs
  surge run shop.toml --type stress --report r.toml     a test type on a profile, a report
  surge run shop.toml --threshold "http_req_duration:p(95)<300" --summary-export k6.json

from oha and hey: -c is -u/--vus, -n is -i/--iterations, -z is -d/--duration, -m is
--method, -q N (a rate) is --rate N; -H is --header, as curl's.

defaults: constant-vus, 10 VUs for 10 s; the wire client; one worker process per core
(less one for a target on this machine); --timeout 10s; --max-body 1MiB.

exit codes: 0 passed; 99 a threshold failed (as k6); 3 a rollout rolled back; 4 the load
ended before the rollout's verdict; 2 bad input (one line naming file, line and key);
1 anything else (stopped, aborted, a crash, a router that did not take the rollout's
end). --type capacity: 0 when a capacity was found, 1 when even the first step failed.
A run against a target that refuses every request exits 0 unless a threshold says
otherwise, as k6 does.
"""


def register(sub: Any) -> None:
    run = sub.add_parser(
        "run",
        precheck=foreign_rate,
        help="run a load test headless (CI, SSH one-liners)",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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
    if is_url(target):
        body = args.body.encode() if args.body is not None else None
        try:
            return adhoc_profile(target, method=args.method.upper(), headers=headers, body=body)
        except ValueError as exc:
            raise BadInput(str(exc)) from None
    path = resolve_profile(target)
    if not path.exists():
        if looks_like_address(target):
            raise BadInput(
                f"{target}: no such profile; as a URL it needs a scheme: http://{target}"
            )
        shipped = ", ".join(shipped_names())
        raise BadInput(
            f"{target}: no such profile file (a shipped one: {shipped}; or a URL: http://...)"
        )
    variables = {**os.environ, **dict(args.env_vars)}
    profile = tell_notes(
        args, load_profile(path, env=args.env, base_url=args.base_url, env_vars=variables)
    )
    if headers:
        profile = replace(profile, headers=(*profile.headers, *headers))
    return profile


def looks_like_address(target: str) -> bool:
    """`127.0.0.1:8080/`, `localhost:8080`, `example.com/api`: an address without its
    scheme (as oha and curl take it), not a profile's name or path."""
    host = target.split("/", 1)[0]
    if not host or target.endswith(".toml") or "://" in target:
        return False
    name, _, port = host.partition(":")
    if not name or name.startswith("."):
        return False
    return port.isdigit() or name == "localhost" or "." in name


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
        http2=args.http2,
        http_debug=args.http_debug,
        insecure=args.insecure,
        cacert=args.cacert,
        cert=args.cert,
        key=args.key,
        thresholds=thresholds,
        scenarios=tuple(args.scenarios),
        once=args.once,
        env_vars=tuple(args.env_vars),
        tags=tuple(args.tags),
    )
    try:  # a duration for a test type scales its shape, as the console's form does
        overrides = fit_duration(profile, overrides)
    except ValueError as exc:
        raise BadInput(f"--duration: {exc}") from None
    try:
        plan = build_plan(profile, overrides, interval=args.interval)
    except ConfigError as exc:
        raise BadInput(str(exc)) from None
    if (line := replaced_scenarios(profile, overrides)) is not None:
        print(said(args, "note", line), file=sys.stderr)
    return plan


def say(text: str) -> None:
    """On stderr, beside the progress line; the terminal may be gone (SIGHUP)."""
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(text)
        sys.stderr.flush()


async def run_headless(
    plan: RunPlan,
    *,
    progress: bool,
    report: str | None,
    checkpoint: float = CHECKPOINT_S,
    outputs: Sequence[Output] = (),
    deploy: DeployDriver | None = None,
) -> SessionEnd:
    """The run's session, said on stderr: the progress line, a signal, the report."""
    live = Progress(sys.stderr) if progress else None

    def ended(end: SessionEnd) -> None:
        if live is not None:
            say(live.end())
        if end.problem:
            say(f"  surge run: warning: {end.problem}\n")
        elif report:
            say(f"  report written to {end.report_path}\n")

    session = RunSession(
        plan,
        deploy=deploy,
        outputs=outputs,
        report=report,
        checkpoint_to=None if report is None else Path(report),
        checkpoint_every=checkpoint,
        signals=True,
        on_signal=lambda why: say(f"\n  {why}: stopping gracefully (Ctrl+C again aborts)...\n"),
        on_end=ended,
    )
    if live is not None:
        session.observe(lambda s: say(live.text(s)))
    return await session.run()


def cmd_run(args: argparse.Namespace) -> int:
    profile = load_target(args)
    plan = plan_from_args(args, profile)
    for flag, path in (("--report", args.report), ("--summary-export", args.summary_export)):
        if path and (why := unwritable(path)):
            raise BadInput(f"{flag} {path}: {why}")
    progress = not args.quiet and (
        args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    )
    outputs = [parse_out(spec) for spec in args.out]
    for i, output in enumerate(outputs):
        try:
            output.start()
        except ConfigError:
            for started in outputs[:i]:
                started.close()
            raise
    with asyncio.Runner(loop_factory=serve.new_event_loop) as runner:
        try:
            deploy = runner.run(rollout.driver_for_run(profile, args.report))
        except rollout.Unreachable as exc:  # before any load: nothing to report
            for output in outputs:
                output.close()
            raise BadInput(str(exc)) from None
        try:
            ended = runner.run(
                run_headless(
                    plan,
                    progress=progress,
                    report=args.report,
                    checkpoint=args.checkpoint_every,
                    outputs=outputs,
                    deploy=deploy,
                )
            )
        except HealthError as exc:  # blue's own instances never served: nothing to deploy to
            print(said(args, "error", f"blue's instances did not start: {exc}"), file=sys.stderr)
            return EXIT_ERROR
    data = ended.report if args.summary_export or args.json else None
    if args.summary_export and data is not None:
        try:
            Path(args.summary_export).write_text(json.dumps(summary_export(data), indent=2) + "\n")
        except OSError as exc:
            print(
                "  " + said(args, "warning", f"--summary-export {args.summary_export}: {exc}"),
                file=sys.stderr,
            )
    if args.json and data is not None:
        print(summary_json(data), end="")
        return ended.exit_code
    return finish_summary(ended)


def finish_summary(ended: SessionEnd) -> int:
    """The summary (with the rollout's section) on stdout, then the verdict as its last
    line; the exit code, rollout included."""
    color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    report = ended.report
    code = ended.exit_code
    print(render_report(report, color=color))
    print(verdict_line(report, code, Paint(color)))
    return code
