"""What a capacity search and the findings of a run are: frozen values the report,
the summary and the console read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True)
class CapacityStep:
    """One held rate of a capacity search and how it went (latency in ms)."""

    rate: float  # offered iterations/s
    held: bool  # the thresholds (the SLO) held over the step, and the generator drove it
    achieved_rate: float = 0.0  # iterations/s started
    p50: float = 0.0
    p95: float = 0.0
    p99: float = 0.0
    error_rate: float = 0.0
    dropped: int = 0
    generator_limited: bool = False  # Surge could not drive it: not the server's limit
    start: float = 0.0  # run seconds
    end: float = 0.0
    values: Mapping[str, float | None] = field(default_factory=dict)  # "metric expr" -> value


@dataclass(frozen=True)
class CapacityResult:
    """The search's answer: the highest rate that held and the lowest that failed."""

    rate: float | None  # None: even the first step failed
    failed_at: float | None  # None: nothing failed up to `max`
    precision: float
    steps: tuple[CapacityStep, ...] = ()


class InsightKind(StrEnum):
    """Why a run broke, as a finding the report and the summary name."""

    SATURATION = "saturation"  # throughput stops growing while latency or in-flight rise
    ERRORS = "errors"  # the first interval where errors rise, with their kind
    KNEE = "knee"  # where the latency curve bends up against the rate
    GENERATOR = "generator"  # Surge itself limited the run (its CPU, dropped iterations)
    SERVER = "server"  # a server-side series moves with the latency


@dataclass(frozen=True)
class Insight:
    kind: InsightKind
    at: float  # run seconds
    rate: float | None  # the offered rate then, where the load had one
    text: str  # one line, for the summary and the console
