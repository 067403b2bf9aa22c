"""The goal: the run's pass/fail thresholds as editable lines, `METRIC:EXPR [abortOnFail]`.

The picker shows the profile's thresholds in the same `metric:expression` form
the command line's --threshold takes, so what a user learns in one place works
in the other. Lines left as they were keep their original threshold (and with
it options the line form cannot spell, such as delayAbortEval).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from engine.errors import ConfigError
from engine.load.thresholds import Threshold, parse_cli_threshold

ABORT_SUFFIXES = (" abortOnFail", " abort_on_fail")


def threshold_line(t: Threshold) -> str:
    line = f"{t.key}:{t.expression}"
    return line + ABORT_SUFFIXES[0] if t.abort_on_fail else line


def goal_text(thresholds: Sequence[Threshold]) -> str:
    return "\n".join(threshold_line(t) for t in thresholds)


def parse_goal(
    text: str, originals: Sequence[Threshold] = ()
) -> tuple[tuple[Threshold, ...], list[str]]:
    """Thresholds from the goal's lines, and one message per bad line (blank and # lines skip)."""
    keep = {threshold_line(t): t for t in originals}
    out: list[Threshold] = []
    errors: list[str] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line in keep:
            out.append(keep[line])
            continue
        abort = False
        for suffix in ABORT_SUFFIXES:
            if line.endswith(suffix):
                abort = True
                line = line[: -len(suffix)].rstrip()
        try:
            threshold = parse_cli_threshold(line)
        except ConfigError as exc:
            errors.append(f"line {n}: {exc}")
            continue
        out.append(replace(threshold, abort_on_fail=True) if abort else threshold)
    return tuple(out), errors
