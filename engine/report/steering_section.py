"""A report's steering by hand (`[[meta.steering]]`) as the summary and `report show` say it.

The shape line says it was steered ("up to 200 iters/s, steered by hand: 240 at 0:05,
50 at 0:09"), and a section lists every command with the target before and after.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from engine.durations import clock
from engine.load.steering import Steer, SteeringEvent, fmt_target, steering_words
from engine.report.text import Paint

WIDTH = 77  # the summary's lines fit 80 columns
MOST_NAMED = 4  # more changes than this: the shape line counts them, the section names them
_NBSP = "\u00a0"  # keeps "240 at 0:05" on one line when the shape line wraps


def shape_lines(shape: str, events: Sequence[SteeringEvent]) -> list[str]:
    """The run's shape, "steered by hand: ..." after it when it was, wrapped to WIDTH."""
    words = steering_words(events)
    if not words:
        return [f"    {shape}"]
    if len(words) <= MOST_NAMED:
        said = "steered by hand: " + ", ".join(w.replace(" ", _NBSP) for w in words)
    else:
        said = f"steered by hand {len(words)} times (listed below)"
    lines = textwrap.wrap(
        f"{shape}, {said}", WIDTH, initial_indent="    ", subsequent_indent="      "
    )
    return [text.replace(_NBSP, " ") for text in lines]


def steering_section(events: Sequence[SteeringEvent], unit: str, paint: Paint) -> list[str]:
    """█ STEERED BY HAND: one line per command, oldest first; none for a run left alone
    (or only stopped: its ending says that)."""
    if not any(e.bends for e in events):
        return []
    out = [f"  {paint('█ STEERED BY HAND', '1')}", ""]
    for e in events:
        out.append(f"    {clock(e.t):>7}  {_detail(e, unit)}" + (f"  ({e.run})" if e.run else ""))
    return out


def _detail(event: SteeringEvent, unit: str) -> str:
    if event.what is Steer.TARGET and event.to is not None:
        was = f"{fmt_target(event.from_)} → " if event.from_ is not None else ""
        return f"target {was}{fmt_target(event.to)} {unit}"
    return event.done
