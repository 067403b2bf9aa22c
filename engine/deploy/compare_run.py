"""One strategy of `surge deploy compare` (engine/deploy/compare.py): blue up, then the
load and the rollout together until the rollout settles, and its row."""

from __future__ import annotations

from time import monotonic

from engine.deploy.compare import CompareRow
from engine.deploy.driver import DeployDriver
from engine.deploy.marks import Mark, RunFigures, mark_of
from engine.deploy.strategies import EventKind, Phase
from engine.load.run import RunPlan
from engine.report.deploy_section import FleetRow
from engine.run_session import RunSession

__all__ = ["measure"]


async def measure(name: str, driver: DeployDriver, plan: RunPlan) -> CompareRow:
    """Blue up, then the load and the rollout together until the rollout settles (the
    session stops the load then) or the load's shape ends (the rollout is unfinished)."""
    session = RunSession(plan, deploy=driver, until_settled=True)
    end: dict[str, Mark] = {}  # every request (whichever color answered), green's
    rows: list[FleetRow | None] = [None]  # the fleet as the load ended, before finish()

    def marks(model: RunFigures) -> None:
        now = monotonic()
        end.update(all=mark_of(model, None, now), green=mark_of(model, "green", now))

    def show(_snapshot: object) -> None:
        rows[0] = driver.fleet_row()
        if "all" not in end and driver.settled:
            marks(session.model)

    session.observe(show)
    model = (await session.run()).result.model
    settled = "all" in end
    if not settled:  # the shape ended first: what the load saw until then
        marks(model)
    # settled: finish() left the phase and the events as they were
    over = settled and driver.phase in (Phase.PROMOTED, Phase.ROLLED_BACK)
    kinds = (EventKind.PROMOTED, EventKind.ROLLED_BACK)
    at = next((e.at for e in driver.events if e.kind in kinds), None)
    t0, row, figures = session.rollout_started, rows[0], end["all"]
    return CompareRow(
        strategy=name,
        outcome=driver.phase.value if over else "unfinished",
        seconds=None if at is None or t0 is None or not settled else at - t0,
        peak_instances=row.peak if row else 0,
        lowest_serving=row.lowest if row else 0,
        green_requests=end["green"].requests,
        requests=figures.requests,
        errors=figures.failed,
        p99_ms=figures.percentiles((99.0,))[99.0],
    )
