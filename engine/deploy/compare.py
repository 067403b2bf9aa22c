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
differs. `strategy_for` and `render_table` are pure; `measure` runs one strategy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from time import monotonic

from engine.deploy.driver import DeployDriver
from engine.deploy.marks import Mark, mark_of
from engine.deploy.strategies import (
    Analysis,
    Canary,
    EventKind,
    Linear,
    Phase,
    Rolling,
    RollingWithAdditionalBatch,
    Strategy,
    Switch,
)
from engine.load.controller import Controller
from engine.load.run import RunPlan
from engine.load.states import StopReason
from engine.profile.deploy import DeployPlan

__all__ = [
    "COMPARED",
    "CompareRow",
    "measure",
    "render_table",
    "strategy_for",
]

#: What `--strategies` may name, in the default order of the table.
COMPARED = ("rolling", "rolling-with-additional-batch", "bluegreen", "canary", "linear")
ALIASES = {"switch": "bluegreen", "blue-green": "bluegreen"}
CANARY_STEPS = (10, 25, 50, 100)  # when the profile's own strategy is no canary
LINEAR_PERCENT = 25


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
    "peak inst.",
    "min serving",
    "green reqs",
    "requests",
    "errors",
    "p99",
)


def render_table(rows: Sequence[CompareRow]) -> list[str]:
    """A plain-text table (a Markdown table too: the README shows it as printed)."""
    cells = [
        (
            r.strategy,
            r.outcome,
            "–" if r.seconds is None else f"{r.seconds:.1f} s",
            str(r.peak_instances),
            str(r.lowest_serving),
            f"{r.green_requests:,}",
            f"{r.requests:,}",
            f"{r.errors:,} ({r.error_rate:.1%})",
            f"{r.p99_ms:.1f} ms",
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(HEADERS)]
    right = {2, 3, 4, 5, 6, 7, 8}

    def line(values: Sequence[str]) -> str:
        padded = (
            v.rjust(w) if i in right else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        )
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(
        ("-" * (w + 1) + ":") if i in right else ("-" * (w + 2)) for i, w in enumerate(widths)
    )
    return [line(HEADERS), rule + "|", *(line(c) for c in cells)]


def all_upstreams(model: object, t: float) -> Mark:
    """Every request of the load, whichever color (or the router itself) answered."""
    return mark_of(model, None, t)


async def measure(
    name: str,
    driver: DeployDriver,
    plan: RunPlan,
    *,
    on_settled: Callable[[], None] | None = None,
) -> CompareRow:
    """Blue up, then the load and the rollout together until the rollout settles (the
    load stops then) or the load's shape ends (the rollout is then unfinished)."""
    end: dict[str, Mark] = {}
    controller: Controller

    def show(_snapshot: object) -> None:
        model = controller.model
        driver.observe(model)
        if "all" not in end and driver.settled:
            end["all"] = all_upstreams(model, monotonic())
            end["green"] = mark_of(model, "green", monotonic())
            controller.stop(StopReason.ROLLOUT_ENDED)
            if on_settled is not None:
                on_settled()

    controller = Controller(plan, on_snapshot=show)
    try:
        await driver.prepare()
        t0 = driver.clock()
        driver.start()
        await controller.run()
        settled = "all" in end
        if not settled:  # the shape ended first: what the load saw until then
            end["all"] = all_upstreams(controller.model, monotonic())
            end["green"] = mark_of(controller.model, "green", monotonic())
        phase = driver.phase
        ended = next(
            (e.at for e in driver.events if e.kind in (EventKind.PROMOTED, EventKind.ROLLED_BACK)),
            None,
        )
        row = driver.fleet_row()
    finally:
        await driver.finish()
    outcome = (
        phase.value if settled and phase in (Phase.PROMOTED, Phase.ROLLED_BACK) else ("unfinished")
    )
    figures = end["all"]
    return CompareRow(
        strategy=name,
        outcome=outcome,
        seconds=None if ended is None or not settled else ended - t0,
        peak_instances=row.peak if row else 0,
        lowest_serving=row.lowest if row else 0,
        green_requests=end["green"].requests,
        requests=figures.requests,
        errors=figures.failed,
        p99_ms=figures.percentiles((99.0,))[99.0],
    )
