"""k6's vus_max for several scenarios: the VUs planned at the busiest moment.

k6 initialises one pool of VUs for all scenarios (lib/helpers.go `GetMaxPlannedVUs`
over each executor's `GetExecutionRequirements`): each scenario plans its VUs over its
window [startTime, startTime + planned duration + gracefulStop), and the pool is the
largest sum of the windows that overlap. An arrival rate plans its preAllocatedVUs; a
ramping-vus plans its stages' VUs, each kept gracefulRampDown after a ramp down.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.load.executors.config import RAMPING_VUS, SHARED_ITERATIONS, ExecutorConfig
from engine.load.stages import segments, vus_at

_EPS = 1e-9


def initial_vus(cfg: ExecutorConfig) -> int:
    """The VUs a scenario plans from its start (a ramping-vus: its peak)."""
    if cfg.open_model:
        return cfg.pre_allocated_vus
    if cfg.executor == SHARED_ITERATIONS:
        return min(cfg.vus, cfg.iterations)
    return cfg.peak_vus


def _window(cfg: ExecutorConfig) -> float:
    return cfg.planned_duration + cfg.graceful_stop


def _ramp_max(cfg: ExecutorConfig, a: float, b: float) -> int:
    """A ramping-vus's most VUs over run time [a, b] (after its stages: the last target)."""
    end = cfg.planned_duration
    edges = [*(t for t, _, _, _ in segments(cfg.start_vus, cfg.stages)), end]
    times = [a, b, *(t for t in edges if a < t < b)]
    return max(vus_at(cfg.start_vus, cfg.stages, min(max(t, 0.0), end)) for t in times)


def planned_at(cfg: ExecutorConfig, t: float) -> int:
    """The VUs one scenario plans at its own run time t (0 outside its window)."""
    if t < 0 or t >= _window(cfg):
        return 0
    if cfg.executor != RAMPING_VUS:
        return initial_vus(cfg)
    return _ramp_max(cfg, t - cfg.graceful_ramp_down, t)


def _breaks(cfg: ExecutorConfig) -> list[float]:
    """Run times where the scenario's planned VUs may change (its windows' edges)."""
    out = [0.0, _window(cfg)]
    if cfg.executor == RAMPING_VUS:
        for t, _, _, _ in segments(cfg.start_vus, cfg.stages):
            out += [t, t + cfg.graceful_ramp_down]
        out.append(cfg.planned_duration + cfg.graceful_ramp_down)
    return out


def planned_vus_max(scenarios: Sequence[tuple[float, ExecutorConfig]]) -> int:
    """k6's vus_max of (startTime, executor) scenarios: the largest sum of planned VUs at
    one moment. Each sum is piecewise linear between the windows' edges, so its maximum
    is at an edge or just before one."""
    times = {start + t for start, cfg in scenarios for t in _breaks(cfg)}
    best = 0
    for t in times:
        for at in (t, t - _EPS):
            best = max(best, sum(planned_at(cfg, at - start) for start, cfg in scenarios))
    return best
