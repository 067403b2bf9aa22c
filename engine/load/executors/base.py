"""What every executor type answers: its options, its shape over time, its budget.

One type per k6 executor behind this one interface (k6's lib/executor has one file
per executor sharing base_executor.go), so the worker, the planner, the splitter
and the front ends ask the type instead of branching on the executor's name.
Types are stateless: each method takes the validated `ExecutorConfig`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar

from engine.errors import ConfigError
from engine.load.stages import Stage, total_duration, value_at
from engine.load.states import StopReason

if TYPE_CHECKING:
    from engine.load.executors.config import ExecutorConfig


def split_int(total: int, n: int) -> list[int]:
    """`total` dealt over `n` parts as evenly as whole numbers allow: 7 over 2 = 4 + 3."""
    q, r = divmod(total, n)
    return [q + 1 if i < r else q for i in range(n)]


@dataclass(frozen=True)
class Shape:
    """The executor's target over run time: VUs (closed) or iterations per `unit` (open)."""

    start: float
    stages: tuple[Stage, ...]
    unit: float = 1.0

    def at(self, t: float) -> float:
        return value_at(self.start, self.stages, t) / self.unit


class Budget(ABC):
    """An iteration budget (the iteration executors): asked before each iteration."""

    @abstractmethod
    def take(self, vu_iterations: int) -> bool:
        """May a VU that has run `vu_iterations` start one more? Takes it if so."""

    @abstractmethod
    def progress(self, done: int) -> float:
        """The share of the budget used, given the iterations done by all VUs."""

    @abstractmethod
    def unstarted(self, started: list[int]) -> int:
        """Iterations never started, given each VU's started ones: k6's dropped_iterations
        when maxDuration ends the executor."""


class SharedBudget(Budget):
    """shared-iterations: one pool of iterations that all VUs draw from."""

    def __init__(self, iterations: int) -> None:
        self.total = iterations
        self.remaining = iterations

    def take(self, vu_iterations: int) -> bool:
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True

    def progress(self, done: int) -> float:
        return 1 - self.remaining / max(self.total, 1)

    def unstarted(self, started: list[int]) -> int:
        return max(self.remaining, 0)


class PerVuBudget(Budget):
    """per-vu-iterations: every VU runs the same number of iterations."""

    def __init__(self, iterations: int, vus: int) -> None:
        self.iterations = iterations
        self.vus = vus

    def take(self, vu_iterations: int) -> bool:
        return vu_iterations < self.iterations

    def progress(self, done: int) -> float:
        return done / max(self.iterations * self.vus, 1)

    def unstarted(self, started: list[int]) -> int:
        missing = self.vus - len(started)  # VUs never created started nothing
        return sum(max(self.iterations - s, 0) for s in started) + missing * self.iterations


class ExecutorType(ABC):
    """One k6 executor: the options it takes and how it schedules work."""

    name: ClassVar[str]
    accepts: ClassVar[frozenset[str]]  # option fields besides executor and graceful_stop
    required: ClassVar[frozenset[str]] = frozenset()
    open_model: ClassVar[bool] = False
    iteration_based: ClassVar[bool] = False  # ends when its iterations are done
    end_reason: ClassVar[StopReason] = StopReason.DURATION
    first: ClassVar[int] = 0  # open model: schedule slots skipped at the start (k6's ramping: 1)

    @abstractmethod
    def shape(self, cfg: ExecutorConfig) -> Shape: ...

    @abstractmethod
    def planned_duration(self, cfg: ExecutorConfig) -> float:
        """How long it schedules work, before gracefulStop (the maximum for iterations)."""

    @abstractmethod
    def peak_vus(self, cfg: ExecutorConfig) -> int:
        """Most VUs it may run at once (k6's vus_max)."""

    def peak_rate(self, cfg: ExecutorConfig) -> float:
        """Highest arrival rate per second (open model), else 0."""
        return 0.0

    @abstractmethod
    def describe(self, cfg: ExecutorConfig) -> str: ...

    @abstractmethod
    def progress_label(self, cfg: ExecutorConfig, progress: float) -> str:
        """Where the run is in the executor's own words: `40/100 iterations`, a stage."""

    @abstractmethod
    def validate(self, cfg: ExecutorConfig) -> None:
        """Cross-field rules of this executor; ConfigError names the option."""

    def preview(self, cfg: ExecutorConfig, points: int = 60) -> list[tuple[float, float]]:
        """(time, target) points of the shape, for plots before a run."""
        value = self.shape(cfg).at(0.0)
        return [(0.0, value), (self.planned_duration(cfg), value)]

    @abstractmethod
    def split(self, cfg: ExecutorConfig, n: int) -> list[ExecutorConfig]:
        """The config of each of `n` workers; their sum is this one, exactly."""

    def budget(self, cfg: ExecutorConfig) -> Budget | None:
        return None

    def vus_at(self, cfg: ExecutorConfig, t: float) -> int:
        """Closed model: the VUs the executor wants at run time t."""
        return cfg.vus


class ClosedType(ExecutorType):
    """A fixed number of VUs, each looping: the closed model."""

    def shape(self, cfg: ExecutorConfig) -> Shape:
        return Shape(float(cfg.vus), (Stage(self.planned_duration(cfg), float(cfg.vus)),))

    def peak_vus(self, cfg: ExecutorConfig) -> int:
        return cfg.vus

    def split(self, cfg: ExecutorConfig, n: int) -> list[ExecutorConfig]:
        return [replace(cfg, vus=v) for v in split_int(cfg.vus, n)]


class IterationsType(ClosedType):
    """The iteration executors: a budget of iterations within maxDuration."""

    accepts = frozenset({"vus", "iterations", "max_duration"})
    iteration_based = True
    end_reason = StopReason.MAX_DURATION

    def planned_duration(self, cfg: ExecutorConfig) -> float:
        return cfg.max_duration

    def validate(self, cfg: ExecutorConfig) -> None:
        if cfg.vus < 1:
            raise ConfigError("vus", "must be at least 1")
        if cfg.iterations < 1:
            raise ConfigError("iterations", "must be at least 1")
        if cfg.max_duration <= 0:
            raise ConfigError("maxDuration", "must be positive")

    def total_iterations(self, cfg: ExecutorConfig) -> int:
        return cfg.iterations

    def describe(self, cfg: ExecutorConfig) -> str:
        return f"{cfg.executor}: {cfg.iterations} iterations, {cfg.vus} VUs"

    def progress_label(self, cfg: ExecutorConfig, progress: float) -> str:
        total = self.total_iterations(cfg)
        return f"{round(progress * total):,}/{total:,} iterations"


class StagedType(ExecutorType):
    """The ramping executors: a start value and stages, shown stage by stage."""

    unit_label: ClassVar[str]

    def planned_duration(self, cfg: ExecutorConfig) -> float:
        return total_duration(cfg.stages)

    def preview(self, cfg: ExecutorConfig, points: int = 60) -> list[tuple[float, float]]:
        shape, total = self.shape(cfg), self.planned_duration(cfg)
        return [(total * i / points, shape.at(total * i / points)) for i in range(points + 1)]

    def progress_label(self, cfg: ExecutorConfig, progress: float) -> str:
        """`stage 2/3: 10 → 200/s`."""
        shape = self.shape(cfg)
        t = progress * self.planned_duration(cfg)
        t0, prev = 0.0, shape.start
        for i, stage in enumerate(cfg.stages):
            if t < t0 + stage.duration or i == len(cfg.stages) - 1:
                a, b = prev / shape.unit, stage.target / shape.unit
                what = (
                    f"hold {b:g}{self.unit_label}" if a == b else f"{a:g} → {b:g}{self.unit_label}"
                )
                return f"stage {i + 1}/{len(cfg.stages)}: {what}"
            t0 += stage.duration
            prev = stage.target
        return ""


class OpenType(ExecutorType):
    """The arrival-rate executors: iterations start on a schedule, VUs are drawn as needed."""

    open_model = True
    unit_label = "/s"

    def peak_vus(self, cfg: ExecutorConfig) -> int:
        return max(cfg.max_vus, cfg.pre_allocated_vus)

    def peak_rate(self, cfg: ExecutorConfig) -> float:
        shape = self.shape(cfg)
        return max([shape.start, *(s.target for s in shape.stages)]) / shape.unit

    def validate(self, cfg: ExecutorConfig) -> None:
        if cfg.time_unit <= 0:
            raise ConfigError("timeUnit", "must be positive")
        if cfg.pre_allocated_vus < 0:
            raise ConfigError("preAllocatedVUs", "must not be negative")
        if cfg.max_vus < max(cfg.pre_allocated_vus, 1):
            raise ConfigError(
                "maxVUs", f"must be at least preAllocatedVUs ({cfg.pre_allocated_vus}) and 1"
            )

    def describe(self, cfg: ExecutorConfig) -> str:
        return (
            f"{cfg.executor}: up to {self.peak_rate(cfg):g} iters/s over "
            f"{self.planned_duration(cfg):g}s, maxVUs {self.peak_vus(cfg)}"
        )

    def split(self, cfg: ExecutorConfig, n: int) -> list[ExecutorConfig]:
        """VUs are dealt; the schedule is not: worker i runs iterations i, i + n, ..."""
        pre = split_int(cfg.pre_allocated_vus, n)
        most = split_int(cfg.max_vus, n)
        return [
            replace(cfg, pre_allocated_vus=p, max_vus=max(m, 1))
            for p, m in zip(pre, most, strict=True)
        ]
