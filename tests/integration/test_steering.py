"""The controller records steering by hand as it is given, on a real run in worker processes."""

from __future__ import annotations

import asyncio

import pytest

from engine.load.controller import Controller
from engine.load.run import Snapshot
from engine.load.states import StopReason
from engine.load.steering import Steer
from engine.profile import adhoc_profile
from engine.profile.plan import Overrides, build_plan


async def test_commands_are_recorded_and_two_retargets_in_one_interval_land(
    shared_sut: str,
) -> None:
    """Pause, resume, 240 then 50 at once, stop: five events, timed, with the targets;
    the run then goes at 50/s (a second retarget used to build on the stale 100)."""
    plan = build_plan(
        adhoc_profile(shared_sut + "/"),
        Overrides(executor="constant-arrival-rate", rate=100.0, duration=30.0, workers=1),
        interval=0.5,
        in_process=False,
    )
    seen: list[Snapshot] = []
    arrived = asyncio.Event()

    def on_snapshot(s: Snapshot) -> None:
        seen.append(s)
        arrived.set()

    async def snapshots(n: int) -> None:
        for _ in range(n):
            arrived.clear()
            await asyncio.wait_for(arrived.wait(), 15)

    controller = Controller(plan, on_snapshot)
    task = asyncio.create_task(controller.run())
    await snapshots(2)
    controller.pause()
    await snapshots(2)
    controller.resume()
    controller.set_target(240.0)
    controller.set_target(50.0)
    await snapshots(3)
    controller.stop(StopReason.USER_STOP)
    result = await asyncio.wait_for(task, 30)

    events = result.steering
    assert [e.what for e in events] == [
        Steer.PAUSE,
        Steer.RESUME,
        Steer.TARGET,
        Steer.TARGET,
        Steer.STOP,
    ]
    assert [(e.from_, e.to) for e in events[2:4]] == [
        pytest.approx((100.0, 240.0)),
        pytest.approx((240.0, 50.0)),
    ]
    t = [e.t for e in events]
    assert t == sorted(t) and 0.9 <= t[0] <= result.duration
    assert 0.9 <= t[1] - t[0] <= 5  # paused for two intervals of 0.5 s
    assert seen[-2].row.target == pytest.approx(50.0, rel=0.01)
