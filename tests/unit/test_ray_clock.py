"""The Ray pool measures each node's clock before the start and refuses one too far off
(no Ray needed: the actors' `hello` is all it asks of them)."""

from __future__ import annotations

import asyncio
import time

import pytest

from engine.errors import ConfigError
from engine.load.pools.ray_pool import ActorInfo, RayPool
from engine.profile import adhoc_profile
from engine.profile.plan import Overrides, build_plan


class _Method:
    def __init__(self, fn) -> None:  # type: ignore[no-untyped-def]
        self.fn = fn

    def remote(self):  # type: ignore[no-untyped-def]
        return self.fn()


class _Actor:
    """Answers `hello` with a clock `offset` seconds off ours."""

    def __init__(self, offset: float) -> None:
        async def hello() -> dict:
            return {"node": "n" * 40, "host": "far", "time": time.time() + offset}

        self.hello = _Method(hello)


def _pool(*offsets: float) -> RayPool:
    plan = build_plan(adhoc_profile("http://127.0.0.1:9/"), Overrides(vus=2, workers=2))
    pool = RayPool(plan.work, len(offsets), "auto")
    pool._actors = [_Actor(o) for o in offsets]
    pool.infos = [ActorInfo(i) for i in range(len(offsets))]
    return pool


async def test_each_nodes_clock_offset_is_measured() -> None:
    pool = _pool(0.0, 0.25)
    await pool._measure_clocks()
    offsets = [i.offset_ms for i in pool.infos]
    assert abs(offsets[0]) < 20 and 230 < offsets[1] < 270
    assert pool.describe()["workers"][1]["host"] == "far"


async def test_a_node_whose_clock_is_off_by_more_than_a_second_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"node far \(nnnnnnnn\) has a clock \+2\.50 s off"):
        await _pool(0.0, 2.5)._measure_clocks()


async def test_an_actor_killed_at_the_close_after_it_finished_is_not_lost() -> None:
    """The last harvest can be out when the run returns and close() kills the actors: the
    answer is an error, but the actor finished (CI once saw `every worker died` here)."""
    pool = _pool(0.0)
    answered = asyncio.Event()

    async def harvest() -> tuple:
        pool.infos[0].done = True  # its run returned meanwhile
        answered.set()
        raise RuntimeError("ActorDiedError: killed by close()")

    pool._actors[0].harvest = _Method(harvest)
    await pool.harvest()
    assert answered.is_set()
    assert pool.lost == 0 and pool.failures == []
