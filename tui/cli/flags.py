"""The flags `surge run` and the app (`surge [PROFILE]`) share, defined once.

Same names, types, checks and help in both, so a flag that works on one works on
the other; each command adds only its own flags around these.
"""

from __future__ import annotations

import argparse
from typing import Any

from engine.load.testtypes import ALIASES, TEST_TYPES
from tui.cli.argtypes import duration, positive, positive_int


def add_profile_flags(p: argparse.ArgumentParser, *, type_help: str) -> None:
    """--type, --env, --base-url: which shape, which environment, which target."""
    p.add_argument("--type", dest="test_type", choices=[*TEST_TYPES, *ALIASES], help=type_help)
    p.add_argument("--env", help="the profile environment to use ([environments.NAME])")
    p.add_argument("--base-url", help="override the profile's base URL")


def add_load_flags(group: Any) -> None:
    """--vus, --rate, --duration, --time-scale, --workers, on a parser or a group of it."""
    group.add_argument("--vus", type=positive_int, help="virtual users (preAllocatedVUs if open)")
    group.add_argument("--rate", type=positive, help="iterations per second (open model)")
    group.add_argument("--duration", type=duration, help="e.g. 30s, 1m30s")
    group.add_argument("--time-scale", type=positive, help="multiply test-type shape durations")
    group.add_argument(
        "--workers",
        type=positive_int,
        help="engine processes (default: one per core, less one for a target on this machine)",
    )
