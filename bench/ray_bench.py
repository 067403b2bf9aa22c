"""Do Ray actors work as hard as local worker processes? The same load both ways.

    python bench/ray_bench.py [--workers 2] [--vus 50] [--duration 5] [--rounds 3]

nginx (one worker) on core 0 serves 12 B; on core 1, Surge's Controller in this process
with `--workers N` local processes, and with N Ray actors (`--cluster`) on a two-node
`ray.cluster_utils.Cluster` this script starts and joins (two raylets on 127.0.0.1, N/2
logical CPUs each, so the pool's SPREAD placement puts half the actors on each node),
the same closed-model load in turns,
`--rounds` times. Printed per round and as medians: req/s per worker, the workers' CPU
per request (the worker processes or the actors' processes, sampled while they run), the
CPU per request of everything (Surge, the workers, and Ray's own GCS and raylets), the
share of a core the rest of the machine used meanwhile (others' load), and the ratios
actors / processes. The goal: actors >= 0.9x processes in req/s per worker.
nginx, Surge and the cluster are always stopped at the end, Ctrl+C included.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    GENERATOR_CORE,
    Nginx,
    OtherLoad,
    Sampler,
    check_cores,
    log,
    stop_cleanly_on_signals,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # engine/

# Ray swaps a 127.0.0.1 cluster address for the machine's outward one, where a loopback
# cluster does not listen, unless it believes clusters unsupported (as on macOS).
LOOPBACK_RAY = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


@dataclass
class Round:
    rps_per_worker: float
    worker_cpu_us: float  # the workers' CPU per request, µs
    total_cpu_us: float  # Surge + workers + Ray's daemons, per request, µs
    others_pct: float
    failed: int


class CpuSampler(Sampler):
    """CPU time the processes `pick` chooses spent while sampled (every 0.2 s, from the
    first sight of each: a Ray worker process imported Ray before it became an actor,
    and the actors' processes are gone by the time the run returns)."""

    period = 0.2

    def __init__(self, pick: Callable[[psutil.Process], bool]) -> None:
        super().__init__()
        self.pick = pick
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}

    def sample(self, restart: bool = False) -> None:
        """`restart`: count from now on (the run's first interval: the workers' start-up,
        imports and Crew, is left out, on both sides alike)."""
        for proc in psutil.process_iter():
            try:
                if self.pick(proc):
                    t = proc.cpu_times()
                    if restart:
                        self.first[proc.pid] = t.user + t.system
                    self.first.setdefault(proc.pid, t.user + t.system)
                    self.last[proc.pid] = t.user + t.system
            except psutil.Error:
                continue

    def seconds(self) -> float:
        return sum(v - self.first[pid] for pid, v in self.last.items())


def _cmdline(proc: psutil.Process) -> str:
    return " ".join(proc.cmdline())


def _ray_daemons_cpu() -> float:
    """CPU so far of this script's Ray processes (GCS, raylets, agents)."""
    total = 0.0
    for proc in psutil.Process().children():
        try:
            if "site-packages/ray/" in _cmdline(proc):
                t = proc.cpu_times()
                total += t.user + t.system
        except psutil.Error:
            continue
    return total


def run_once(url: str, args: argparse.Namespace, cluster: str | None, nginx: Nginx) -> Round:
    """One run of the Controller in this process (so that on Ray it uses the cluster
    this script joined); the workers' CPU per request and everything's (this process,
    and on Ray the GCS and raylets too: the price of the cluster)."""
    from engine.load.controller import Controller
    from engine.profile import adhoc_profile
    from engine.profile.plan import Overrides, build_plan

    overrides = Overrides(
        workers=args.workers, cluster=cluster, vus=args.vus, duration=args.duration
    )
    plan = build_plan(adhoc_profile(url), overrides)
    me = os.getpid()

    def worker(p: psutil.Process) -> bool:
        if cluster:
            return _cmdline(p).startswith("ray::WorkerActor")
        line = _cmdline(p)  # our other children: nginx's master, Ray's processes
        return p.ppid() == me and "site-packages/ray/" not in line and "nginx" not in line

    mark: list[float] = []  # at the first interval: this process's, daemons' CPU, requests

    def first_interval(_: object) -> None:
        if not mark:
            workers.sample(restart=True)
            mark.extend((_self_cpu(), _ray_daemons_cpu(), controller.model.figures().requests))

    controller = Controller(plan, first_interval)
    with OtherLoad(nginx) as others, CpuSampler(worker) as workers:
        t0 = time.monotonic()
        result = asyncio.run(controller.run())
        wall = time.monotonic() - t0
    extra = workers.seconds() + (_ray_daemons_cpu() - mark[1] if cluster else 0.0)
    total = _self_cpu() - mark[0] + extra
    f = result.model.figures()
    requests = max(f.requests - int(mark[2]), 1)
    return Round(
        rps_per_worker=f.requests / result.duration / args.workers,
        worker_cpu_us=workers.seconds() / requests * 1e6,
        total_cpu_us=total / requests * 1e6,
        # OtherLoad counts our reaped children (the local workers) as ours, not the
        # actors and raylets: take those out too
        others_pct=max(others.percent - (extra * 100 / wall if cluster else 0.0), 0.0),
        failed=f.requests - f.status.get(200, 0),
    )


def _self_cpu() -> float:
    t = psutil.Process().cpu_times()
    return t.user + t.system


class TwoNodes:
    """A head and a worker node (raylets on 127.0.0.1), `cpus` logical CPUs each."""

    def __init__(self, cpus: int) -> None:
        os.environ.update(LOOPBACK_RAY)
        import ray
        from ray.cluster_utils import Cluster

        node = {"num_cpus": cpus, "include_dashboard": False, "node_ip_address": "127.0.0.1"}
        self.cluster = Cluster(initialize_head=True, head_node_args=node)
        self.cluster.add_node(**node)
        self.cluster.wait_for_nodes()
        ray.init(
            address=self.cluster.address,
            _node_ip_address="127.0.0.1",
            log_to_driver=False,
            configure_logging=False,
        )

    def __enter__(self) -> TwoNodes:
        return self

    def __exit__(self, *exc: object) -> None:
        import ray

        ray.shutdown()
        self.cluster.shutdown()


def _median(rounds: list[Round], key: str) -> float:
    return statistics.median(getattr(r, key) for r in rounds)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=2, help="worker processes, and actors")
    ap.add_argument("--vus", type=int, default=50)
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if args.workers < 2 or args.workers % 2:
        ap.error("--workers: an even number >= 2 (half the actors on each node)")
    check_cores()
    stop_cleanly_on_signals()
    os.sched_setaffinity(0, {int(GENERATOR_CORE)})  # the raylets and actors inherit it
    results: dict[str, list[Round]] = {"processes": [], "actors": []}
    with Nginx() as nginx:
        log("starting a two-node Ray cluster (head + worker raylet on 127.0.0.1)")
        with TwoNodes(args.workers // 2):
            for n in range(args.rounds):
                for kind, cluster in (("processes", None), ("actors", "auto")):
                    r = run_once(nginx.url, args, cluster, nginx)
                    results[kind].append(r)
                    log(
                        f"round {n + 1} {kind:9}: {r.rps_per_worker:9,.0f} req/s per worker, "
                        f"workers {r.worker_cpu_us:5.1f} µs CPU/req, all {r.total_cpu_us:5.1f} "
                        f"µs CPU/req, others {r.others_pct:3.0f}% of a core, failed {r.failed}"
                    )
    print(f"\nmedians of {args.rounds} rounds, {args.workers} workers, {args.vus} VUs, 12 B:")
    print("| workers as | req/s per worker | worker CPU µs/req | all CPU µs/req | others % |")
    print("|---|--:|--:|--:|--:|")
    for kind, rounds in results.items():
        print(
            f"| {kind} | {_median(rounds, 'rps_per_worker'):,.0f} | "
            f"{_median(rounds, 'worker_cpu_us'):.1f} | {_median(rounds, 'total_cpu_us'):.1f} | "
            f"{_median(rounds, 'others_pct'):.0f} |"
        )
    p, a = results["processes"], results["actors"]
    rps_ratio = _median(a, "rps_per_worker") / _median(p, "rps_per_worker")
    cpu_ratio = _median(a, "worker_cpu_us") / _median(p, "worker_cpu_us")
    print(f"actors / processes: req/s per worker {rps_ratio:.2f}x, worker CPU per request "
          f"{cpu_ratio:.2f}x (goal: req/s >= 0.9x)")  # fmt: skip
    return 0 if rps_ratio >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
