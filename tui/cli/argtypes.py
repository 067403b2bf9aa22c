"""argparse value types shared by `surge run` and `surge [PROFILE]`: one message each."""

from __future__ import annotations

import argparse
import math

from engine.durations import parse_duration
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
