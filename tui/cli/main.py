"""`surge` on the command line: `run` (headless), `sut` (the demo server), and the app.

Exit codes: 0 passed, 99 thresholds failed (as k6), 2 bad input, 3 a rollout rolled
back (headless), 1 anything else.
Bad input is one line naming the culprit, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib import metadata

from engine.errors import ConfigError
from engine.exit_codes import EXIT_BAD_INPUT, EXIT_ERROR
from engine.profile import ProfileError
from engine.report.document import ReportError
from tui.cli import demo, deploy_cmd, proxy_cmd, report_cmd, router_cmd, run_cmd, sut_cmd
from tui.cli.argtypes import SuggestingParser
from tui.cli.run_cmd import BadInput

# `surge COMMAND ...`; anything else opens the app (`surge [PROFILE] [flags]`).
COMMANDS = ("run", "demo", "sut", "report", "proxy", "weights", "router", "deploy")


def build_parser() -> argparse.ArgumentParser:
    parser = SuggestingParser(
        prog="surge",
        description="Interactive terminal load tester and blue/green traffic console.",
        epilog="Without a command, surge opens the live console: surge [PROFILE] [--type TYPE] "
        "[--start] [--env NAME] [--profiles DIR] [--base-url URL] (surge PROFILE --help).",
    )
    parser.add_argument("--version", action="version", version=f"surge {surge_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in (run_cmd, demo, sut_cmd, report_cmd, proxy_cmd, router_cmd, deploy_cmd):
        command.register(sub)
    return parser


def wants_app(parser: argparse.ArgumentParser, argv: Sequence[str]) -> bool:
    """No command (nothing, a profile path, or app flags): the live console."""
    if not argv:
        return True
    first = argv[0]
    return first not in COMMANDS and first not in ("-h", "--help", "--version")


def surge_version() -> str:
    """The installed distribution's version (pyproject.toml's), or "unknown" from a bare
    checkout."""
    try:
        return metadata.version("surge")
    except metadata.PackageNotFoundError:
        return "unknown"


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
        print(f"surge {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return EXIT_ERROR
    except BrokenPipeError:  # `surge report show | head`: the reader had enough
        _quiet_stdout()
        return EXIT_ERROR


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
