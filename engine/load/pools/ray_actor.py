"""The Ray actor: a thin wrapper around the same Crew a worker process runs.

Ray is imported here and only here (and in ray_pool.py), never by the worker. The
actor is async: its `run` holds the Worker's loop while `harvest` and commands are
served on that same loop, between requests, as the process pool's pipe reader is.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from typing import Any

import psutil
import ray

from engine.load import messages as msg
from engine.load.crew import Crew
from engine.load.pools.base import cpu_of
from engine.load.pools.remote import apply_command, apply_start
from engine.load.run import WorkPlan
from engine.load.states import StopCause


@ray.remote(num_cpus=1, max_restarts=0)
class WorkerActor:
    """One worker on some node of the cluster; its figures go back as encoded Intervals."""

    def __init__(self, plan: WorkPlan) -> None:
        self.crew = Crew(plan)
        self._proc = psutil.Process(os.getpid())
        self._cpu = 0.0

    async def hello(self) -> dict[str, Any]:
        """Where it runs, and its clock now (for the Controller's offset estimate)."""
        ctx = ray.get_runtime_context()
        return {"node": ctx.get_node_id(), "host": socket.gethostname(), "time": time.time()}

    async def run(self, start: msg.Start, start_at: float) -> dict[str, Any]:
        """Wait for the agreed instant (this node's clock), run, and return the final
        interval (encoded): what the last harvest had not taken yet."""
        delay = start_at - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        apply_start(self.crew, start)
        cpu_of(self._proc)
        await self.crew.run()
        return self.crew.harvest().encode()

    async def harvest(self) -> tuple[dict[str, Any], float, float, StopCause | None]:
        """The interval since the last harvest, progress, CPU (% of a core), stop reason."""
        self._cpu = cpu_of(self._proc, self._cpu)
        iv = self.crew.harvest()
        return iv.encode(), self.crew.progress(), self._cpu, self.crew.stop_reason

    async def command(self, command: msg.Command) -> None:
        apply_command(self.crew, command)
