"""The workers as Ray actors across a cluster (`--cluster ray://HOST:PORT` or `auto`).

The Controller stays where the user is; plan slices go to the actors when they are
made, commands and harvests are actor calls, intervals come back encoded. Before the
start each node's clock offset to the Controller is measured (the least-delay of a few
round trips, as NTP does) and the actors start at one agreed instant of the
Controller's clock, each converted to its own; a node whose clock is off by more than
`MAX_CLOCK_OFFSET_S` is refused. An actor that dies is reported with its time, its
figures so far kept. Ray's job API has no authentication: `auto` starts a local Ray on
127.0.0.1 without a dashboard and stops it at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from engine.errors import ConfigError
from engine.load import messages as msg
from engine.load.metrics import Interval
from engine.load.pools.base import RemotePool
from engine.load.run import WorkPlan
from engine.load.split import split_plan
from engine.load.states import StopCause

MAX_CLOCK_OFFSET_S = 1.0
START_MARGIN_S = 0.3  # from sending the start to the agreed instant: every actor has it
_HARVEST_TIMEOUT_S = 5.0
_PINGS = 5
INSTALL = "Ray is not installed: pip install 'surge[ray]' (or pip install ray)"


def import_ray() -> Any:
    """Ray, or a ConfigError saying how to install it (exit 2)."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--cluster", INSTALL) from None
    return ray


@dataclass
class ActorInfo:
    """One actor as the report's `[meta.cluster]` lists it."""

    index: int
    node: str = ""
    host: str = ""
    offset_ms: float = 0.0
    requests: int = 0
    lost_at: float | None = None
    done: bool = False
    progress: float = 0.0
    pending: Any = field(default=None, repr=False)


class RayPool(RemotePool):
    def __init__(self, plan: WorkPlan, workers: int, address: str) -> None:
        """`workers` 0: one per CPU the cluster offers, known once connected."""
        self.address = address
        self.plan = plan
        self.workers = workers
        self.plans: list[WorkPlan] = split_plan(plan, workers) if workers else []
        self.failures: list[str] = []
        self.cpu: list[float] = [0.0] * len(self.plans)
        self.scale = 1.0
        self.stop_reason: StopCause | None = None
        self.started = asyncio.Event()
        self.infos = [ActorInfo(i) for i in range(len(self.plans))]
        self._actors: list[Any] = []
        self._ray: Any = None
        self._owns_ray = False
        self._group: Any = None
        self._target = 0.0
        self._t0 = 0.0
        self._paused = False
        self._ending: msg.Stop | msg.Abort | None = None
        self._finals: dict[int, Interval] = {}  # by actor index

    @property
    def size(self) -> int:
        return len(self.plans)

    # ---------------------------------------------------------------- commands
    def _send(self, command: msg.Command) -> None:
        for info, actor in zip(self.infos, self._actors, strict=False):
            if not info.done:
                actor.command.remote(command)  # fire and forget: ordered per caller

    def progress(self) -> float:
        live = [i.progress for i in self.infos]
        return min(live) if live else 0.0

    # ----------------------------------------------------------------- running
    def _connect(self) -> Any:
        ray = import_ray()
        if not ray.is_initialized():
            if self.address == "auto":
                ray.init(
                    address="local",
                    include_dashboard=False,
                    _node_ip_address="127.0.0.1",
                    log_to_driver=False,
                    configure_logging=False,
                )
                self._owns_ray = True
            else:
                ray.init(address=self.address, log_to_driver=False, configure_logging=False)
        return ray

    async def run(self) -> None:
        self._ray = await asyncio.to_thread(self._connect)
        from ray.util.placement_group import placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        from engine.load.pools.ray_actor import WorkerActor

        if not self.plans:
            cpus = int(self._ray.cluster_resources().get("CPU", 1))
            self.plans = split_plan(self.plan, max(cpus, 1))
            self.cpu = [0.0] * len(self.plans)
            self.infos = [ActorInfo(i) for i in range(len(self.plans))]
        try:
            group = self._group = placement_group([{"CPU": 1}] * self.size, strategy="SPREAD")
            await group.ready()
            self._actors = [
                WorkerActor.options(
                    scheduling_strategy=PlacementGroupSchedulingStrategy(group, i)
                ).remote(plan)
                for i, plan in enumerate(self.plans)
            ]
            await self._measure_clocks()
            await self.setup_done()
            start = self.start_message()
            start_at = time.time() + START_MARGIN_S
            runs = {
                actor.run.remote(start, start_at + info.offset_ms / 1000): info
                for actor, info in zip(self._actors, self.infos, strict=True)
            }
            await asyncio.sleep(max(start_at - time.time(), 0))
            self._t0 = time.monotonic()
            self.started.set()
            await self._until_done(runs)
        finally:
            await self.close()

    async def _measure_clocks(self) -> None:
        """Each actor's clock minus ours, from the round trip with the least delay."""
        for actor, info in zip(self._actors, self.infos, strict=True):
            best: tuple[float, float] | None = None
            for _ in range(_PINGS):
                sent = time.time()
                hello = await actor.hello.remote()
                back = time.time()
                rtt, offset = back - sent, hello["time"] - (sent + back) / 2
                if best is None or rtt < best[0]:
                    best = (rtt, offset)
                info.node, info.host = hello["node"], hello["host"]
            assert best is not None
            info.offset_ms = best[1] * 1000
            if abs(best[1]) > MAX_CLOCK_OFFSET_S:
                raise ConfigError(
                    "--cluster",
                    f"node {info.host} ({info.node[:8]}) has a clock {best[1]:+.2f} s off this "
                    f"machine's (more than {MAX_CLOCK_OFFSET_S:g} s): sync it (chrony, NTP)",
                )

    async def _until_done(self, runs: dict[Any, ActorInfo]) -> None:
        waiting = {asyncio.ensure_future(_awaitable(ref)): info for ref, info in runs.items()}
        while waiting:
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            for fut in done:
                info = waiting.pop(fut)
                try:
                    self._finals[info.index] = self._count(info, Interval.decode(fut.result()))
                except Exception as exc:  # the actor or its node died: its shipped figures stay
                    self._lost(info, exc)
                info.done = True

    def _count(self, info: ActorInfo, iv: Interval) -> Interval:
        info.requests += sum(b.requests for b in iv.flatten().buckets.values())
        return iv

    def _lost(self, info: ActorInfo, exc: BaseException) -> None:
        if info.lost_at is not None:
            return
        info.lost_at = time.monotonic() - self._t0 if self._t0 else 0.0
        where = f"{info.host} ({info.node[:8]})" if info.node else "?"
        self.failures.append(
            f"worker {info.index} on {where} lost at {info.lost_at:.1f}s ({type(exc).__name__})"
        )
        self.lost += 1

    async def harvest(self) -> Interval:
        parts: list[Interval] = []
        calls = [
            (info, asyncio.ensure_future(_awaitable(actor.harvest.remote())))
            for info, actor in zip(self.infos, self._actors, strict=False)
            if not info.done and info.lost_at is None
        ]
        if calls:
            await asyncio.wait([c for _, c in calls], timeout=_HARVEST_TIMEOUT_S)
        for info, call in calls:
            if not call.done():
                call.cancel()
                continue
            try:
                encoded, progress, cpu, stop_reason = call.result()
            except Exception as exc:
                # An actor whose run returned while this call was out is killed by
                # close(): its final figures are in, it finished, it was not lost.
                if not info.done:
                    self._lost(info, exc)
                continue
            info.progress = progress
            self.cpu[info.index] = cpu
            if stop_reason and self.stop_reason is None:
                self.stop_reason = stop_reason
            part = self._count(info, Interval.decode(encoded))
            final = self._finals.pop(info.index, None)
            if final is not None:  # it ended while this call was out: one actor's VUs
                part.extend(final)
            parts.append(part)
        parts.extend(self._finals.values())
        self._finals = {}
        return self._merge(parts)

    def nodes(self) -> tuple[str, ...]:
        return tuple(i.host or i.node[:8] for i in self.infos)

    def describe(self) -> dict[str, Any]:
        """`[meta.cluster]` of the report: where each worker ran and what it did."""
        return {
            "address": self.address,
            "nodes": len({i.node for i in self.infos if i.node}),
            "workers": [
                {
                    "worker": i.index,
                    "node": i.node,
                    "host": i.host,
                    "clock_offset_ms": round(i.offset_ms, 3),
                    "requests": i.requests,
                    **({"lost_at_s": round(i.lost_at, 3)} if i.lost_at is not None else {}),
                }
                for i in self.infos
            ],
        }

    async def close(self) -> None:
        ray = self._ray
        if ray is None:
            return
        for actor in self._actors:
            with contextlib.suppress(Exception):
                ray.kill(actor)
        if self._group is not None:
            from ray.util.placement_group import remove_placement_group

            with contextlib.suppress(Exception):
                remove_placement_group(self._group)
            self._group = None
        if self._owns_ray:
            await asyncio.to_thread(ray.shutdown)
            self._owns_ray = False


async def _awaitable(ref: Any) -> Any:
    return await ref
