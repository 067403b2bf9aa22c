"""k6's setup() and teardown(): a flow run once, on one VU, in the Controller's process.

Their requests, checks and errors count as k6 counts them, in lanes of their own
(`(setup)`, `(teardown)`: never a scenario's name), with no iteration. setup()'s
captures reach every VU of every worker as `${setup.NAME}`. A setup that times out,
or ends without a value it captures, fails: no scenario runs (k6: a setup() that
throws).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from time import perf_counter

from engine.load.executors import PER_VU_ITERATIONS, ExecutorConfig
from engine.load.flow import Flow
from engine.load.metrics import Interval
from engine.load.run import ScenarioPlan, WorkPlan
from engine.load.worker import Worker

_ONCE = ExecutorConfig(executor=PER_VU_ITERATIONS, vus=1, iterations=1)


@dataclass(frozen=True)
class Once:
    """What a setup or teardown did: its lane's figures, its captures, why it failed."""

    interval: Interval
    values: tuple[tuple[str, str], ...]  # ("setup.NAME", value) for each capture
    error: str | None = None


async def run_once(
    plan: WorkPlan,
    flow: Flow,
    lane: str,
    timeout: float,
    *,
    values: tuple[tuple[str, str], ...] = (),
    origin: float | None = None,
) -> Once:
    """Run `flow` once as lane `lane` under `timeout` seconds, its VU holding `values`
    (teardown: setup's). The interval's times count from `origin` (a perf_counter; None:
    the interval is at 0 s, before the run's clock starts)."""
    worker = Worker(plan, ScenarioPlan(lane, _ONCE, flow=flow))
    worker.setup_values = dict(values)
    worker.origin = perf_counter() if origin is None else origin
    begun = perf_counter() - worker.origin
    error = None
    got: dict[str, str] = {}
    try:
        got = await asyncio.wait_for(worker.pass_once(), timeout)
    except TimeoutError:
        error = f"timed out after {timeout:g}s"
    names = [c.name for step in flow.steps for c in step.captures]
    if error is None and (missing := [n for n in names if not got.get(n)]):
        error = "no value for " + ", ".join(f"${{setup.{n}}}" for n in missing)
    iv = worker.harvest()
    iv.start = begun
    if origin is None:
        iv.end = 0.0
    return Once(iv, tuple((f"setup.{n}", got[n]) for n in names if got.get(n)), error)
