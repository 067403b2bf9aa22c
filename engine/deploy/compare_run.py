"""One strategy of `surge deploy compare` (engine/deploy/compare.py): blue up, then the
load and the rollout together until the rollout settles, and its row."""

from __future__ import annotations

from time import monotonic

from engine.deploy.compare import CompareRow
from engine.deploy.driver import DeployDriver
from engine.deploy.marks import Mark, RunFigures, mark_of
from engine.deploy.strategies import EventKind, Phase
from engine.load.controller import Controller
from engine.load.run import RunPlan
from engine.load.states import StopReason

__all__ = ["measure"]


def all_upstreams(model: RunFigures, t: float) -> Mark:
    """Every request of the load, whichever color (or the router itself) answered."""
    return mark_of(model, None, t)


async def measure(name: str, driver: DeployDriver, plan: RunPlan) -> CompareRow:
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
    over = settled and phase in (Phase.PROMOTED, Phase.ROLLED_BACK)
    outcome = phase.value if over else "unfinished"
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
