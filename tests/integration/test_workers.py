"""Worker processes: exact splits, exact merges, commands to all, a dead worker reported."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from engine.load import executors as ex
from engine.load.controller import Controller
from engine.load.executors import ExecutorConfig, split_int
from engine.load.run import RunPlan
from engine.load.split import split_executor, split_plan
from engine.load.stages import Stage, arrival_time
from engine.profile import adhoc_profile
from engine.profile.plan import Overrides, build_plan


@pytest.mark.parametrize(
    ("total", "n", "parts"),
    [(7, 2, [4, 3]), (6, 3, [2, 2, 2]), (1, 3, [1, 0, 0]), (10, 4, [3, 3, 2, 2]), (0, 2, [0, 0])],
)
def test_split_int_loses_nothing(total: int, n: int, parts: list[int]) -> None:
    assert split_int(total, n) == parts


@pytest.mark.parametrize(
    ("cfg", "n", "fields"),
    [
        (
            ExecutorConfig(executor=ex.SHARED_ITERATIONS, vus=3, iterations=7),
            2,
            [{"vus": 2, "iterations": 4}, {"vus": 1, "iterations": 3}],
        ),
        (
            ExecutorConfig(executor=ex.PER_VU_ITERATIONS, vus=5, iterations=3),
            2,
            [{"vus": 3, "iterations": 3}, {"vus": 2, "iterations": 3}],
        ),
        (
            ExecutorConfig(executor=ex.CONSTANT_VUS, vus=9, duration=1),
            4,
            [{"vus": 3}, {"vus": 2}, {"vus": 2}, {"vus": 2}],
        ),
        (
            ExecutorConfig(executor=ex.RAMPING_VUS, start_vus=3, stages=(Stage(1, 5), Stage(1, 0))),
            2,
            [
                {"start_vus": 2, "stages": (Stage(1, 3), Stage(1, 0))},
                {"start_vus": 1, "stages": (Stage(1, 2), Stage(1, 0))},
            ],
        ),
        (
            ExecutorConfig(
                executor=ex.CONSTANT_ARRIVAL_RATE,
                rate=7,
                duration=1,
                pre_allocated_vus=5,
                max_vus=9,
            ),
            2,
            [
                {"rate": 7, "pre_allocated_vus": 3, "max_vus": 5},
                {"rate": 7, "pre_allocated_vus": 2, "max_vus": 4},
            ],
        ),
    ],
)
def test_split_executor_is_exact(cfg: ExecutorConfig, n: int, fields: list[dict]) -> None:
    parts = split_executor(cfg, n)
    assert len(parts) == n
    for part, want in zip(parts, fields, strict=True):
        for k, v in want.items():
            assert getattr(part, k) == v, k
        part.validate()


def test_arrival_schedules_are_dealt_not_divided() -> None:
    """7 iterations/s over 2 workers: 4 + 3 in the first second, at the same instants."""
    plan = build_plan(
        adhoc_profile("http://127.0.0.1:9/"), Overrides(rate=7.0, duration=1.0, workers=2)
    )
    plans = split_plan(plan.work, 2)
    from engine.load.pacing import Pacer

    times = []
    for p in plans:
        pacer = Pacer(7, (Stage(1, 7),), 1.0, offset=p.only.offset, stride=p.only.stride)
        n = 0
        while (t := pacer.due(n)) is not None:
            times.append(t)
            n += 1
    assert sorted(times) == [arrival_time(7, (Stage(1, 7),), k, 1.0) for k in range(8)]


def test_no_more_workers_than_vus() -> None:
    plan = build_plan(adhoc_profile("http://127.0.0.1:9/"), Overrides(vus=1, workers=4))
    assert len(split_plan(plan.work, 4)) == 1


def _plan(url: str, workers: int, **kw: object) -> RunPlan:
    return build_plan(
        adhoc_profile(url),
        Overrides(workers=workers, **kw),
        interval=0.5,  # type: ignore[arg-type]
    )


async def test_two_workers_report_what_one_would(shared_sut: str) -> None:
    one = await Controller(_plan(shared_sut + "/", 1, iterations=300, vus=4)).run()
    two = await Controller(_plan(shared_sut + "/", 2, iterations=300, vus=4)).run()
    assert two.workers == 2 and one.workers == 1
    for r in (one, two):
        assert r.model.figures().requests == 300
        assert r.model.total.iterations == 300
        assert r.model.figures().status == {200: 300}
    rate = await Controller(_plan(shared_sut + "/", 2, rate=100.0, duration=1.0)).run()
    assert rate.model.figures().requests == 101  # 0 s to 1 s inclusive, as k6
    assert rate.model.total.dropped == 0


@pytest.mark.serial
@pytest.mark.parametrize("workers", [1, 2])
async def test_every_interval_is_full_length_and_aligned_with_any_workers(
    shared_sut: str, workers: int
) -> None:
    """Intervals count from the workers' start, not from spawning their processes: the
    first is as long as the rest, each ends on a multiple of the interval."""
    plan = _plan(shared_sut + "/", workers, vus=2, duration=2.0)
    rows = (await Controller(plan).run()).model.timeline
    assert len(rows) == 4, [(r.t, r.dt) for r in rows]
    for k, row in enumerate(rows, start=1):
        assert row.t == pytest.approx(0.5 * k, abs=0.06), (k, row.t)
        assert row.dt == pytest.approx(0.5, abs=0.06), (k, row.dt)


async def test_commands_reach_every_worker(shared_sut: str) -> None:
    plan = _plan(shared_sut + "/", 2, rate=200.0, duration=30.0)
    seen: list = []
    controller = Controller(plan, seen.append)
    task = asyncio.create_task(controller.run())
    while not seen:
        await asyncio.sleep(0.05)
    controller.pause()

    async def intervals(k: int) -> None:
        n = len(seen)
        while len(seen) < n + k:
            await asyncio.sleep(0.05)

    await intervals(2)  # in-flight requests finish, late replies arrive
    paused_at = controller.model.figures().requests
    await intervals(3)
    assert controller.model.figures().requests == paused_at  # both workers stay paused
    controller.resume()
    n = len(seen)
    while len(seen) < n + 1:
        await asyncio.sleep(0.05)
    controller.stop("enough")
    result = await asyncio.wait_for(task, 30)
    assert str(result.stop_reason) == "enough"
    assert result.duration < 20
    assert result.model.figures().requests > 0


async def test_a_killed_worker_is_reported_and_the_others_figures_kept(shared_sut: str) -> None:
    plan = _plan(shared_sut + "/", 2, vus=4, duration=3.0)
    seen: list = []
    controller = Controller(plan, seen.append)
    task = asyncio.create_task(controller.run())
    while len(seen) < 2 or not all(seen[-1].worker_cpu):
        await asyncio.sleep(0.05)
    before = controller.model.figures().requests
    victim = controller.pool.pids()[1]  # type: ignore[union-attr]
    os.kill(victim, signal.SIGKILL)
    result = await asyncio.wait_for(task, 30)
    assert result.failures and "died (signal 9)" in result.failures[0]
    assert result.model.figures().requests > before  # the survivor went on
    assert 2.5 < result.duration < 6


async def test_worker_processes_write_their_stderr_to_the_log_they_are_given(
    shared_sut: str, tmp_path
) -> None:
    """The app passes a log: a worker's traceback must not land on the screen it draws."""
    from dataclasses import replace

    log = tmp_path / "workers.log"
    plan = replace(_plan(shared_sut + "/", 2, vus=2, duration=30.0), worker_log=str(log))
    seen: list = []
    controller = Controller(plan, seen.append)
    task = asyncio.create_task(controller.run())
    while not seen:
        await asyncio.sleep(0.05)
    for pid in controller.pool.pids():  # type: ignore[union-attr]
        assert os.readlink(f"/proc/{pid}/fd/2") == str(log)
    controller.stop("enough")
    await asyncio.wait_for(task, 30)
    assert log.exists()
