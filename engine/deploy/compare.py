"""`surge deploy compare`: the strategies side by side, on the same instances and load.

Each strategy gets a fresh environment (its blue instances started from the recipes,
an empty router) and the same load shape, from the rollout's start until it settles:
promoted or rolled back, every instance move done, blue scaled down. The row then says
what the strategy cost and risked (docs/ARCHITECTURE.md, "Comparing strategies"):

- how long it took to promote or to roll back;
- the most instances running at once (the resource cost) and the fewest serving;
- how many requests the new version served, and the users' errors and p99 meanwhile.

Strategies are built here from one `[deploy]` table's analysis (interval, bounds,
failure limit), so they are judged alike: only the way traffic and instances move
differs. This module is pure (and light, for the command line's start);
engine/deploy/compare_run.py runs one strategy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from engine.deploy.strategies import (
    RENAMED,
    Analysis,
    Canary,
    Linear,
    Rolling,
    RollingWithAdditionalBatch,
    Strategy,
    Switch,
)
from engine.load.executors import ExecutorConfig
from engine.load.stages import Stage

if TYPE_CHECKING:
    from engine.profile.deploy import DeployPlan

__all__ = [
    "COMPARED",
    "CompareRow",
    "held_longer",
    "render_table",
    "strategy_for",
]

#: What `--strategies` may name, in the default order of the table.
COMPARED = ("rolling", "rolling-with-additional-batch", "bluegreen", "canary", "linear")
ALIASES = {**RENAMED, "blue-green": "bluegreen"}
CANARY_STEPS = (10, 25, 50, 100)  # when the profile's own strategy is no canary
LINEAR_PERCENT = 25
MAX_ROLLOUT_S = 300.0  # a strategy's rollout is cut (unfinished) past this


def held_longer(cfg: ExecutorConfig, extra: float) -> ExecutorConfig:
    """The load's shape with its peak held `extra` seconds longer, so a rollout that
    outlasts the (scaled) shape still runs under load; the run stops when the rollout
    settles. A staged shape gets a hold at its peak target right where it first reaches
    it; a constant one a longer duration; iteration counts stay as they are."""
    if cfg.stages:
        peak = max(range(len(cfg.stages)), key=lambda i: cfg.stages[i].target)
        hold = Stage(extra, cfg.stages[peak].target)
        return replace(cfg, stages=(*cfg.stages[: peak + 1], hold, *cfg.stages[peak + 1 :]))
    if cfg.duration > 0:
        return replace(cfg, duration=cfg.duration + extra)
    return cfg


def strategy_for(plan: DeployPlan, name: str) -> Strategy:
    """`name` with the profile's analysis: its interval, bounds and failure limit; a
    rolling strategy replaces the recipes' instances one by one, blue/green smokes green
    over one interval first; the profile's own strategy is taken as it is configured."""
    name = ALIASES.get(name, name)
    if ALIASES.get(plan.strategy, plan.strategy) == name:
        return plan.build()  # the profile's own strategy, as it is configured
    o = plan.options
    analysis: Analysis = o.get("analysis") or Analysis(interval=float(o.get("interval", 60.0)))
    limit = int(o.get("failure_limit", 1))
    if name in ("rolling", "rolling-with-additional-batch"):
        cls = Rolling if name == "rolling" else RollingWithAdditionalBatch
        n = plan.instances("blue")
        return cls(n, 1, analysis.interval, analysis=analysis, failure_limit=limit)
    if name == "bluegreen":
        return Switch(analysis)
    if name == "canary":
        return Canary(analysis, steps=CANARY_STEPS, failure_limit=limit)
    if name == "linear":
        return Linear(LINEAR_PERCENT, analysis.interval, analysis, limit)
    raise ValueError(f"unknown strategy {name!r} (one of {', '.join(COMPARED)})")


@dataclass(frozen=True)
class CompareRow:
    """One strategy's rollout, as the table shows it."""

    strategy: str
    outcome: str  # "promoted", "rolled back", or "unfinished" (the load ended first)
    seconds: float | None  # from the rollout's start to its promotion or rollback
    peak_instances: int
    lowest_serving: int
    green_requests: int  # requests the new version served
    requests: int  # every request of the load during the rollout
    errors: int
    p99_ms: float

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "strategy": self.strategy,
            "outcome": self.outcome,
            "seconds": None if self.seconds is None else round(self.seconds, 2),
            "peak_instances": self.peak_instances,
            "lowest_serving": self.lowest_serving,
            "green_requests": self.green_requests,
            "requests": self.requests,
            "errors": self.errors,
            "p99_ms": round(self.p99_ms, 2),
        }


HEADERS = (
    "strategy",
    "outcome",
    "time",
    "peak/min inst.",
    "green reqs",
    "requests",
    "errors",
    "p99",
)
RIGHT = frozenset(HEADERS[2:])  # figures: right-aligned
TABLE_WIDTH = 80


def render_table(rows: Sequence[CompareRow], width: int = TABLE_WIDTH) -> list[str]:
    """A plain-text table (a Markdown table too: the README shows it as printed), at most
    `width` columns: columns that do not fit go on into a second table below, the
    strategy repeated first in it. "peak/min inst.": the most instances running at once,
    the fewest serving."""
    cells = [
        (
            r.strategy,
            r.outcome,
            "–" if r.seconds is None else f"{r.seconds:.1f} s",
            f"{r.peak_instances}/{r.lowest_serving}",
            f"{r.green_requests:,}",
            f"{r.requests:,}",
            f"{r.errors:,} ({r.error_rate:.1%})",
            f"{r.p99_ms:.1f} ms",
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(HEADERS)]
    groups: list[list[int]] = [[0]]
    for i in range(1, len(HEADERS)):
        group = groups[-1]
        if len(group) > 1 and sum(widths[j] + 3 for j in (*group, i)) + 1 > width:
            groups.append([0])
        groups[-1].append(i)
    out: list[str] = []
    for group in groups:
        out.extend([""] if out else [])
        out.extend(_table([[row[i] for i in group] for row in cells], group, widths))
    return out


def _table(
    cells: Sequence[Sequence[str]], columns: Sequence[int], widths: Sequence[int]
) -> list[str]:
    """The columns (indices into HEADERS) as one Markdown table."""
    right = [HEADERS[i] in RIGHT for i in columns]
    sizes = [widths[i] for i in columns]

    def line(values: Sequence[str]) -> str:
        padded = (
            v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, sizes, right, strict=True)
        )
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(
        ("-" * (w + 1) + ":") if r else ("-" * (w + 2)) for w, r in zip(sizes, right, strict=True)
    )
    return [line([HEADERS[i] for i in columns]), rule + "|", *(line(c) for c in cells)]
