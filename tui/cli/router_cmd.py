"""`surge router start haproxy|envoy PROFILE`: the router a profile's rollout steers,
configured for its blue and green pools and started, in one command.

The config goes to the user's private router folder (engine.deploy.routers.haproxy
.router_dir, mode 0700) and is printed with `--config-only`; the router runs in the
foreground until Ctrl+C or SIGTERM, and then `surge run PROFILE` (or the app) in
another terminal drives the rollout through it.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

from engine.exit_codes import EXIT_BAD_INPUT, EXIT_ERROR, EXIT_OK
from engine.profile import load_profile, resolve_profile
from tui.cli.argtypes import said, tell_notes
from tui.cli.deploy_cmd import as_ctrl_c
from tui.cli.run_cmd import BadInput

ROUTER_KINDS = ("haproxy", "envoy")


def register(sub: Any) -> None:
    router = sub.add_parser(
        "router", help="start HAProxy or Envoy for a profile's blue/green pools"
    )
    actions = router.add_subparsers(dest="router_command", metavar="ACTION", required=True)
    start = actions.add_parser(
        "start", help="write the config Surge expects for the profile's [deploy] and start it"
    )
    start.add_argument("kind", choices=ROUTER_KINDS)
    start.add_argument("profile", help="a profile with a [deploy] table")
    start.add_argument(
        "--config-only", action="store_true", help="print the config and its path; start nothing"
    )
    start.set_defaults(func=cmd_start)


def cmd_start(args: argparse.Namespace) -> int:
    path = resolve_profile(args.profile)
    if not path.exists():
        raise BadInput(f"{args.profile}: no such profile file")
    profile = tell_notes(args, load_profile(path))
    plan = profile.deploy
    if plan is None:
        raise BadInput(f"{path}: no [deploy] table (blue and green pools)")
    from engine.deploy.routers import launch
    from engine.deploy.routers.base import RouterError

    missing = None if args.config_only else not_installed(args.kind)
    if missing is not None:  # a missing binary (Envoy is an extra): one line, exit 2
        print(f"surge router start {args.kind}: {missing}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        if args.kind == "haproxy":
            setup = launch.haproxy_setup(
                plan.blue,
                plan.green,
                listen_port=plan.proxy_port,
                socket_path=plan.socket,
                backend=plan.backend,
                routes=plan.routes,
            )
            if args.config_only:
                from engine.deploy.routers.haproxy_config import render_config

                print(render_config(setup), end="")
                return EXIT_OK
            process, _ = launch.start_haproxy(setup)
            what = f"runtime API {setup.socket}"
            url = f"http://127.0.0.1:{setup.listen_port}"
        else:
            esetup = launch.envoy_setup(
                plan.blue,
                plan.green,
                listen_port=plan.proxy_port,
                admin_socket=plan.socket,
                routes=plan.routes,
                mirror_methods=plan.mirror_methods,
            )
            if args.config_only:
                from engine.deploy.routers.envoy_config import render_bootstrap

                print(render_bootstrap(esetup), end="")
                return EXIT_OK
            process, _ = launch.start_envoy(esetup)
            what = f"admin {esetup.admin_socket}"
            url = f"http://127.0.0.1:{esetup.listen_port}"
    except RouterError as exc:
        print(said(args, "error", str(exc)), file=sys.stderr)
        return EXIT_ERROR
    print(
        f"  {args.kind} listening on {url} ({what}; config {process.config}); "
        f"Ctrl+C stops it. {then(args.profile, plan.router, args.kind)}",
        flush=True,
    )
    try:
        signal.signal(signal.SIGTERM, as_ctrl_c)
        assert process.proc is not None
        process.proc.wait()
        print(said(args, "error", f"{args.kind} exited"), file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        process.stop()


def then(profile: str, router: str, kind: str) -> str:
    """What to run next: `surge run PROFILE` drives the router its `[deploy]` names, so a
    profile naming another one (the demo's says "surge") needs that line changed first."""
    if router == kind:
        return f"Then: surge run {profile}"
    return (
        f'Then: surge run a copy of {profile} with router = "{kind}" in [deploy] '
        f'(it says "{router}")'
    )


def not_installed(kind: str) -> str | None:
    """What to install for `kind`, or None when its binary is there."""
    if kind == "envoy":
        from engine.deploy.routers.envoy import NOT_INSTALLED, envoy_binary

        return NOT_INSTALLED if envoy_binary() is None else None
    from engine.deploy.routers.haproxy import NOT_INSTALLED as HAPROXY_MISSING
    from engine.deploy.routers.haproxy import haproxy_binary

    return HAPROXY_MISSING if haproxy_binary() is None else None
