"""Test types as stage generators over a profile's expected load and time scale.

Shapes follow the load-testing canon (k6's guides): a nominal length in real
minutes, multiplied by `time_scale` so a 40-minute average-load test can be
demonstrated in 48 seconds (time_scale = 0.02).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.load import executors as ex
from engine.load.executors import ExecutorConfig
from engine.load.stages import Stage

CAPACITY_SECONDS = 86400.0  # the search ends the run; time_scale does not shorten it


@dataclass(frozen=True)
class TestType:
    name: str
    summary: str  # what it discovers, in one line
    # (nominal seconds, multiple of the expected load) per stage
    shape: tuple[tuple[float, float], ...]
    open_model_only: bool = False


TEST_TYPES: dict[str, TestType] = {
    t.name: t
    for t in (
        TestType("smoke", "does it work at all, with a few users, before anything bigger", ()),
        TestType(
            "average",
            "how it behaves under the load it usually gets",
            ((300, 1.0), (1800, 1.0), (300, 0.0)),
        ),
        TestType(
            "stress",
            "how it degrades above its usual load (175%)",
            ((600, 1.75), (1800, 1.75), (300, 0.0)),
        ),
        TestType(
            "spike",
            "whether it survives a sudden surge (8x) and recovers",
            ((120, 8.0), (60, 0.0)),
        ),
        TestType(
            "breakpoint",
            "where it breaks: the arrival rate rises until a threshold fails",
            ((7200, 10.0),),
            open_model_only=True,
        ),
        TestType(
            "capacity",
            "the highest arrival rate that holds the thresholds: a search, step by step",
            ((CAPACITY_SECONDS, 1.0),),  # one rate the search steers (engine/load/capacity.py)
            open_model_only=True,
        ),
        TestType(
            "soak",
            "whether it holds usual load for hours (leaks, drift)",
            ((300, 1.0), (28800, 1.0), (300, 0.0)),
        ),
    )
}
ALIASES = {"average-load": "average", "load": "average", "breaking": "breakpoint"}
SMOKE_VUS = 3
SMOKE_SECONDS = 60.0
MIN_STAGE_S = 1.0


def resolve(name: str) -> TestType:
    key = ALIASES.get(name, name)
    if key not in TEST_TYPES:
        raise ValueError(f"unknown test type {name!r} (known: {', '.join(TEST_TYPES)})")
    return TEST_TYPES[key]


def default_max_vus(peak_rate: float) -> int:
    """VUs an open-model run may start: half a second of its peak rate, at least 10.

    Fewer VUs never hide latency here (a due iteration waits and the wait counts);
    they only bound connections.
    """
    return min(max(10, math.ceil(peak_rate * 0.5)), 2000)


def executor_for(
    name: str,
    *,
    vus: int | None,
    rate: float | None,
    max_vus: int | None = None,
    time_scale: float = 1.0,
) -> ExecutorConfig:
    """The executor a test type runs, from the expected load (VUs or rate)."""
    tt = resolve(name)
    if tt.name == "smoke":
        return ExecutorConfig(
            executor=ex.CONSTANT_VUS,
            vus=max(1, min(vus or SMOKE_VUS, SMOKE_VUS)),
            duration=max(SMOKE_SECONDS * time_scale, 5.0),
        )

    scale = 1.0 if tt.name == "capacity" else time_scale

    def shape(base: float, whole: bool) -> tuple[Stage, ...]:
        return tuple(
            Stage(max(d * scale, MIN_STAGE_S), math.ceil(m * base) if whole else m * base)
            for d, m in tt.shape
        )

    if rate is None and not tt.open_model_only:
        return ExecutorConfig(executor=ex.RAMPING_VUS, start_vus=0, stages=shape(vus or 10, True))
    base_rate = rate if rate is not None else 10.0 * (vus or 10)
    st = shape(base_rate, False)
    peak_rate = max(s.target for s in st)
    mv = max_vus or default_max_vus(peak_rate)
    return ExecutorConfig(
        executor=ex.RAMPING_ARRIVAL_RATE,
        start_rate=_start_rate(tt.name, base_rate),
        stages=st,
        pre_allocated_vus=min(mv, max(1, math.ceil(peak_rate * 0.05))),
        max_vus=mv,
    )


def _start_rate(name: str, base_rate: float) -> float:
    """Breakpoint ramps from a tenth of its base; capacity holds its rate from the start."""
    if name == "capacity":
        return base_rate
    return max(base_rate * 0.1, 1.0) if name == "breakpoint" else 0.0


def preview(cfg: ExecutorConfig, points: int = 60) -> list[tuple[float, float]]:
    """(time, target) points of an executor's shape, for plots before a run."""
    return cfg.kind.preview(cfg, points)
