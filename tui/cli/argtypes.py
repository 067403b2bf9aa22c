"""argparse value types shared by `surge run` and `surge [PROFILE]`: one message each."""

from __future__ import annotations

import argparse
import math

from engine.durations import parse_duration
from engine.errors import did_you_mean
from engine.limits import MAX_TIME_SCALE, MAX_WORKERS


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def duration(text: str) -> float:
    """A duration > 0: `--duration 0` would be no run at all."""
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be longer than 0s, got {text!r}")
    return value


def time_scale(text: str) -> float:
    value = positive(text)
    if value > MAX_TIME_SCALE:
        raise argparse.ArgumentTypeError(f"at most {MAX_TIME_SCALE:g}, got {text}")
    return value


def workers(text: str) -> int:
    value = positive_int(text)
    if value > MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"at most {MAX_WORKERS}, got {value}")
    return value


class SuggestingParser(argparse.ArgumentParser):
    """argparse, with "did you mean --vus?" for a mistyped flag (Python 3.14 has it
    built in; 3.11 does not). Subcommand parsers are made of the same class."""

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[no-untyped-def]
        parsed, extras = super().parse_known_args(args, namespace)
        for extra in extras:
            if extra.startswith("-") and self._subparsers is None:
                flag = extra.split("=", 1)[0]
                hint = did_you_mean(flag, self._option_string_actions)
                if hint:
                    self.error(f"unrecognized arguments: {' '.join(extras)}{hint}")
        return parsed, extras
