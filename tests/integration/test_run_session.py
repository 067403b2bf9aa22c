"""The run session on real runs against `surge sut`: checkpoints, the final report, and the
rollout's words for how the load ended (engine/run_session.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.deploy.driver import DeployDriver
from engine.deploy.strategies import Manual
from engine.exit_codes import EXIT_ERROR, EXIT_UNFINISHED
from engine.load.run import RunPlan, Snapshot
from engine.load.states import StopReason
from engine.profile import adhoc_profile
from engine.profile.plan import Overrides, build_plan
from engine.report.deploy_section import Outcome
from engine.report.document import read_report
from engine.report.model import Meta
from engine.run_session import RunSession


def plan_for(sut: str, seconds: float) -> RunPlan:
    overrides = Overrides(executor="constant-vus", vus=1, duration=seconds, workers=1)
    return build_plan(adhoc_profile(sut + "/"), overrides, interval=0.25)


async def test_checkpoints_while_it_runs_then_the_whole_run_over_them(
    shared_sut: str, tmp_path: Path
) -> None:
    report = tmp_path / "run.toml"
    session = RunSession(
        plan_for(shared_sut, 2.0), report=report, checkpoint_to=report, checkpoint_every=0.3
    )
    seen: list[Meta] = []

    def look(_: Snapshot) -> None:
        if report.exists() and not seen:
            seen.append(read_report(report).meta)

    session.observe(look)
    ended = await session.run()
    assert seen and seen[0].aborted is True
    assert str(seen[0].stop_reason).startswith("checkpoint: running at")
    meta = read_report(report).meta
    assert meta.aborted is False and ended.report_path == report == session.saved_to
    assert ended.exit_code == 0 and not session.unsaved


@pytest.mark.parametrize(
    ("stopped", "outcome", "code"),
    [(False, Outcome.UNFINISHED, EXIT_UNFINISHED), (True, Outcome.STOPPED, EXIT_ERROR)],
)
async def test_a_rollout_still_going_at_the_end_is_unfinished_unless_stopped(
    shared_sut: str, stopped: bool, outcome: Outcome, code: int
) -> None:
    """The load ran out by itself: `unfinished` (exit 4); a stop: `stopped` (exit 1)."""
    driver = DeployDriver(Manual(10), None)
    session = RunSession(plan_for(shared_sut, 1.0), deploy=driver)
    if stopped:
        session.observe(lambda _: session.stop(StopReason.USER_STOP))
    ended = await session.run()
    assert ended.record is not None and ended.record.outcome is outcome
    deploy = ended.report.deploy
    assert ended.exit_code == code and deploy is not None and deploy.outcome is outcome
