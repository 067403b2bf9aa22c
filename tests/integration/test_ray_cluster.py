"""The workers as Ray actors on two Ray nodes (`ray.cluster_utils.Cluster`: a head and one
worker node, two raylets on 127.0.0.1, each with its own logical CPUs): the actors spread
over both (two and two), and a node removed mid-run loses its actors as a killed actor
is lost, the counts exact, the report whole, no Ray process left afterwards. One run
does both: starting actors costs seconds here.

Serial: one two-node cluster for the module (xdist would start one per test process, ~10 s
each), and the node removal races the run's deadline."""

from __future__ import annotations

import asyncio
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import ray
from ray._private import ray_constants
from ray.cluster_utils import Cluster

from engine.load.controller import Controller
from engine.load.run import RunPlan, RunResult
from engine.load.states import Ending
from engine.profile import adhoc_profile
from engine.profile.plan import Overrides, build_plan
from engine.report.document import build_report, read_report, write_toml

pytestmark = [pytest.mark.timeout(180), pytest.mark.serial]

NODE = {"num_cpus": 2, "include_dashboard": False, "node_ip_address": "127.0.0.1"}


class TwoNodes:
    """The cluster, its worker node (the one removed) and every Ray process seen."""

    def __init__(self) -> None:
        self.cluster = Cluster(initialize_head=True, head_node_args=NODE)
        self.worker = self.cluster.add_node(**NODE)
        self.cluster.wait_for_nodes()
        ray.init(
            address=self.cluster.address,
            _node_ip_address="127.0.0.1",
            log_to_driver=False,
            configure_logging=False,
        )
        self.head_id = self.cluster.head_node.node_id
        self.worker_id = self.worker.node_id
        self.session = Path(self.cluster.head_node.get_session_dir_path()).name
        self.seen: set[psutil.Process] = set()

    def note_processes(self) -> None:
        """Our Ray processes now (GCS, raylets, the actors' workers), to check at the end."""
        for proc in psutil.Process().children(recursive=True):
            try:
                line = " ".join(proc.cmdline())
                # the reaper stops the rest should this process die; it ends with it
                ours = "site-packages/ray/" in line or line.startswith("ray::")
                if ours and "ray_process_reaper" not in line:
                    self.seen.add(proc)
            except psutil.Error:
                continue

    def shutdown(self) -> None:
        ray.shutdown()
        self.cluster.shutdown()


@pytest.fixture(scope="module")
def two_nodes() -> Iterator[TwoNodes]:
    with pytest.MonkeyPatch.context() as mp:
        # ray.init(address="127.0.0.1:PORT") swaps the loopback for this machine's outward
        # address, where nothing of this cluster listens; Ray keeps the loopback only
        # where it supports no clusters (macOS, Windows), so tell it that.
        mp.setattr(ray_constants, "ENABLE_RAY_CLUSTER", False)
        nodes = TwoNodes()
        yield nodes
        nodes.shutdown()  # again if the last test did it: a no-op then


def _plan(url: str, **kw: object) -> RunPlan:
    overrides = Overrides(workers=4, cluster="auto", **kw)  # type: ignore[arg-type]
    return build_plan(adhoc_profile(url), overrides, interval=0.5)


def _exact(result: RunResult) -> list[dict]:
    """Every count agrees: statuses, histograms, iterations, and the workers' table."""
    f = result.model.figures()
    histograms = sum(b.duration.get_total_count() for b in result.model.total.buckets.values())
    workers = build_report(result).meta.cluster.table["workers"]  # type: ignore[union-attr]
    assert f.requests == sum(f.status.values()) == histograms == f.status[200]
    assert f.requests == sum(w["requests"] for w in workers)
    return workers


async def test_actors_spread_over_both_nodes_and_a_removed_node_loses_its_own(
    two_nodes: TwoNodes, shared_sut: str, tmp_path: Path
) -> None:
    seen: list = []
    controller = Controller(_plan(shared_sut + "/", vus=4, duration=3.0), seen.append)
    task = asyncio.create_task(controller.run())
    while len(seen) < 2:  # two intervals in: every actor is running
        await asyncio.sleep(0.05)
    before = controller.model.figures().requests
    nodes = sorted(i.node for i in controller.pool.infos)  # type: ignore[attr-defined]
    assert nodes == sorted([two_nodes.head_id] * 2 + [two_nodes.worker_id] * 2)  # SPREAD
    two_nodes.note_processes()
    # SIGKILL, as a machine that drops off does not say goodbye
    await asyncio.to_thread(two_nodes.cluster.remove_node, two_nodes.worker, False)
    result = await asyncio.wait_for(task, 60)

    assert result.ending == Ending.FINISHED, result.stop_reason  # on_worker_loss = "continue"
    assert 2.5 < result.duration < 15, result.duration
    workers = _exact(result)
    assert sorted(w["node"] for w in workers) == nodes
    lost = {w["worker"] for w in workers if "lost_at_s" in w}
    on_removed = {w["worker"] for w in workers if w["node"] == two_nodes.worker_id}
    assert lost == on_removed and len(lost) == 2
    assert len(result.failures) == 2 and all("lost at" in f for f in result.failures)
    assert result.model.figures().requests > before  # the head node's actors went on
    assert all(w["requests"] > 0 for w in workers if w["worker"] not in lost)

    path = write_toml(build_report(result), tmp_path / "r.toml")
    again = read_report(path)  # a valid report: it reads back
    assert again.meta.cluster is not None and again.meta.cluster.table["nodes"] == 2
    assert tomllib.loads(path.read_text())["meta"]["cluster"]["workers"] == workers


def test_no_ray_process_is_left_once_the_cluster_stops(two_nodes: TwoNodes) -> None:
    assert two_nodes.seen, "the run noted the cluster's processes"
    two_nodes.shutdown()
    _, alive = psutil.wait_procs(list(two_nodes.seen), timeout=15)
    assert not alive, [p.pid for p in alive]
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    assert two_nodes.session not in ps
