"""A run's findings (`[[insights]]`) as the summary and `report show` list them."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from engine.durations import clock
from engine.explore.model import Insight
from engine.report.text import Paint

WIDTH = 77  # the summary's lines fit 80 columns
KIND = 10  # the widest kind ("saturation")


def insights_section(insights: Sequence[Insight], paint: Paint) -> list[str]:
    """█ INSIGHTS: one finding a line (wrapped), in time order; none for a run without."""
    if not insights:
        return []
    out = [f"  {paint('█ INSIGHTS', '1')}", ""]
    for f in insights:
        head = f"    {clock(f.at):>7}  {f.kind.value:<{KIND}}  "
        body = textwrap.wrap(f.text, WIDTH - len(head)) or [""]
        out.append(head.replace(f.kind.value, paint(f.kind.value, "33"), 1) + body[0])
        out.extend(" " * len(head) + more for more in body[1:])
    return out
