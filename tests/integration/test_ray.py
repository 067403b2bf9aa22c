"""The workers as Ray actors (`--cluster`): a Ray started here on 127.0.0.1 (4 logical CPUs
on this 2-core machine, so several actors), load on 127.0.0.1 only. The same counts as
local worker processes; commands, a lost actor and abortOnFail reach every actor."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import ray

from engine.load.controller import Controller
from engine.load.flow import Flow
from engine.load.pools.ray_pool import INSTALL
from engine.load.run import RunPlan
from engine.load.states import Ending, StopReason
from engine.load.thresholds import parse_threshold
from engine.profile import adhoc_profile
from engine.profile.plan import Overrides, build_plan
from engine.report.document import build_report
from tests.conftest import ROOT, run_surge, surge_cmd
from tests.integration.test_lanes import LOGIN, PER_VU, RATE, SHARED, figures, lanes_plan
from tests.integration.test_lanes import with_setup as setup_plan

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """One local Ray for the module (starting one takes ~10 s here); the pools find it
    running and leave it running."""
    ray.init(
        address="local",
        num_cpus=4,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        configure_logging=False,
    )
    yield "auto"
    ray.shutdown()


def _plan(url: str, workers: int, cluster: str | None, **kw: object) -> RunPlan:
    thresholds = kw.pop("thresholds", ())
    return build_plan(
        adhoc_profile(url),
        Overrides(workers=workers, cluster=cluster, thresholds=thresholds, **kw),  # type: ignore[arg-type]
        interval=0.5,
    )


async def _seen(seen: list, k: int) -> None:
    """Until `k` more snapshots (intervals) have come."""
    n = len(seen)
    while len(seen) < n + k:
        await asyncio.sleep(0.05)


async def test_ray_actors_count_what_local_worker_processes_count(
    cluster: str, shared_sut: str
) -> None:
    local = await Controller(_plan(shared_sut + "/", 2, None, iterations=300, vus=4)).run()
    remote = await Controller(_plan(shared_sut + "/", 2, cluster, iterations=300, vus=4)).run()
    for result in (local, remote):
        f = result.model.figures()
        assert (f.requests, f.status, result.model.total.iterations) == (300, {200: 300}, 300)
        assert sum(b.duration.get_total_count() for b in result.model.total.buckets.values()) == 300
    meta = build_report(remote).meta
    assert meta.workers == 2 and meta.ended == Ending.FINISHED
    assert meta.cluster is not None
    workers = meta.cluster.table["workers"]
    assert [w["requests"] for w in workers] == [150, 150]  # shared-iterations dealt 150 + 150
    assert all(abs(w["clock_offset_ms"]) < 1000 for w in workers)


async def test_pause_a_new_rate_and_stop_reach_every_actor(cluster: str, shared_sut: str) -> None:
    plan = _plan(shared_sut + "/", 2, cluster, rate=100.0, duration=60.0, vus=4)
    seen: list = []
    controller = Controller(plan, seen.append)
    task = asyncio.create_task(controller.run())
    await _seen(seen, 2)
    controller.set_target(200.0)
    await _seen(seen, 3)
    assert seen[-1].row.target == pytest.approx(200.0, rel=0.01)  # both actors' halves
    assert seen[-1].row.rps == pytest.approx(200.0, rel=0.2)
    controller.pause()
    await _seen(seen, 2)  # in-flight answers land, late harvests come
    paused_at = controller.model.figures().requests
    await _seen(seen, 2)
    assert controller.model.figures().requests == paused_at  # every actor stays paused
    controller.resume()
    await _seen(seen, 1)
    controller.stop(StopReason.USER_STOP)
    result = await asyncio.wait_for(task, 30)
    assert result.ending == Ending.STOPPED
    assert result.duration < 30


@pytest.mark.serial
async def test_a_killed_actor_is_reported_and_the_others_finish(
    cluster: str, shared_sut: str
) -> None:
    plan = _plan(shared_sut + "/", 2, cluster, vus=4, duration=3.0)
    seen: list = []
    controller = Controller(plan, seen.append)
    task = asyncio.create_task(controller.run())
    await _seen(seen, 2)
    before = controller.model.figures().requests
    ray.kill(controller.pool._actors[1])  # type: ignore[attr-defined]
    result = await asyncio.wait_for(task, 30)
    assert result.failures and "worker 1 on " in result.failures[0]
    assert "lost at" in result.failures[0]
    assert result.model.figures().requests > before  # the survivor went on
    assert 2.5 < result.duration < 8
    assert result.ending == Ending.FINISHED, result.stop_reason  # on_worker_loss = "continue"


async def test_on_worker_loss_abort_ends_the_run_when_an_actor_is_lost(
    cluster: str, shared_sut: str
) -> None:
    plan = replace(
        _plan(shared_sut + "/", 2, cluster, vus=4, duration=30.0), on_worker_loss="abort"
    )
    seen: list = []
    controller = Controller(plan, seen.append)
    task = asyncio.create_task(controller.run())
    await _seen(seen, 2)
    ray.kill(controller.pool._actors[0])  # type: ignore[attr-defined]
    result = await asyncio.wait_for(task, 30)
    assert result.ending == Ending.WORKER_LOST
    assert str(result.stop_reason).startswith("a worker was lost: worker 0")
    assert result.duration < 10 and result.exit_code == 1


async def test_an_abort_on_fail_threshold_stops_every_actor(cluster: str, sut) -> None:
    url = sut("--error-rate", "0.5")
    th = parse_threshold("http_req_failed", "rate<0.1", abort_on_fail=True)
    plan = _plan(url + "/", 2, cluster, vus=4, duration=60.0, thresholds=(th,))
    result = await asyncio.wait_for(Controller(plan).run(), 60)
    assert result.ending == Ending.THRESHOLD_ABORT
    assert result.exit_code == 99
    assert result.duration < 10  # judged every interval, on the merged figures


def test_cluster_on_the_command_line(cluster: str, shared_sut: str, tmp_path: Path) -> None:
    """`surge run --cluster auto` starts a Ray of its own (this process's is not shared
    with a child), runs, and writes the cluster into the report."""
    report = tmp_path / "r.toml"
    proc = run_surge(
        "run", shared_sut + "/", "--cluster", "auto", "--workers", "2", "-i", "100", "-u", "2",
        "-q", "--report", str(report), timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "2 workers on 1 Ray node" in proc.stdout
    import tomllib

    meta = tomllib.loads(report.read_text())["meta"]
    assert sum(w["requests"] for w in meta["cluster"]["workers"]) == 100


def test_without_ray_cluster_says_how_to_install_it_and_exits_2(tmp_path: Path) -> None:
    fake = tmp_path / "no-ray" / "ray"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('no ray here')\n")
    proc = subprocess.run(
        surge_cmd("run", "http://127.0.0.1:9/", "--cluster", "auto", "-i", "1"),
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": f"{fake.parent}:{ROOT}"},
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"surge run: error: --cluster: {INSTALL}"
    assert "pip install 'surge[ray]'" in INSTALL


async def test_ray_actors_run_each_scenario_exactly_with_setup_values(
    cluster: str, shared_sut: str
) -> None:
    """Three scenarios over three actors, each VU holding setup()'s token (issue 26)."""
    plan = lanes_plan(shared_sut, 3, ("a", SHARED, 0.0), ("b", PER_VU, 0.5), ("c", RATE, 0.0))
    plan = replace(setup_plan(plan, Flow("in", (LOGIN,))), cluster=cluster, in_process=False)
    result = await Controller(plan).run()
    assert result.workers == 3
    assert figures(result, "(setup)") == (0, 1, {200: 1})
    assert figures(result, "a") == (30, 30, {200: 30})
    assert figures(result, "b") == (8, 8, {200: 8})
    done, requests, _ = figures(result, "c")
    assert done == requests and done + result.model.total.lanes["c"].dropped == 21
    assert figures(result, "(teardown)") == (0, 1, {200: 1})
