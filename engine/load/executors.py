"""k6's executors as validated configuration: names, options and defaults as in k6.

`ExecutorConfig.from_options` takes k6's option names (camelCase, as in a k6
script) or their snake_case spelling, and rejects options an executor does not
have, as k6 does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from engine.durations import parse_duration
from engine.errors import ConfigError
from engine.load.stages import Stage, total_duration

SHARED_ITERATIONS = "shared-iterations"
PER_VU_ITERATIONS = "per-vu-iterations"
CONSTANT_VUS = "constant-vus"
RAMPING_VUS = "ramping-vus"
CONSTANT_ARRIVAL_RATE = "constant-arrival-rate"
RAMPING_ARRIVAL_RATE = "ramping-arrival-rate"

EXECUTORS = (
    SHARED_ITERATIONS,
    PER_VU_ITERATIONS,
    CONSTANT_VUS,
    RAMPING_VUS,
    CONSTANT_ARRIVAL_RATE,
    RAMPING_ARRIVAL_RATE,
)
OPEN_MODEL = frozenset({CONSTANT_ARRIVAL_RATE, RAMPING_ARRIVAL_RATE})

# k6 name -> field name.
_NAMES = {
    "vus": "vus",
    "iterations": "iterations",
    "duration": "duration",
    "maxDuration": "max_duration",
    "startVUs": "start_vus",
    "stages": "stages",
    "gracefulRampDown": "graceful_ramp_down",
    "gracefulStop": "graceful_stop",
    "rate": "rate",
    "timeUnit": "time_unit",
    "startRate": "start_rate",
    "preAllocatedVUs": "pre_allocated_vus",
    "maxVUs": "max_vus",
}
_SNAKE = {v: v for v in _NAMES.values()}

# Options each executor accepts (besides `executor` and `gracefulStop`), and which are required.
_ACCEPTS: dict[str, tuple[set[str], set[str]]] = {
    SHARED_ITERATIONS: ({"vus", "iterations", "max_duration"}, set()),
    PER_VU_ITERATIONS: ({"vus", "iterations", "max_duration"}, set()),
    CONSTANT_VUS: ({"vus", "duration"}, {"duration"}),
    RAMPING_VUS: ({"start_vus", "stages", "graceful_ramp_down"}, {"stages"}),
    CONSTANT_ARRIVAL_RATE: (
        {"rate", "time_unit", "duration", "pre_allocated_vus", "max_vus"},
        {"rate", "duration", "pre_allocated_vus"},
    ),
    RAMPING_ARRIVAL_RATE: (
        {"start_rate", "time_unit", "stages", "pre_allocated_vus", "max_vus"},
        {"stages", "pre_allocated_vus"},
    ),
}

_DURATIONS = {"duration", "max_duration", "graceful_ramp_down", "graceful_stop", "time_unit"}
_INTS = {"vus", "iterations", "start_vus", "pre_allocated_vus", "max_vus"}
_FLOATS = {"rate", "start_rate"}


@dataclass(frozen=True)
class ExecutorConfig:
    executor: str = CONSTANT_VUS
    vus: int = 1
    iterations: int = 1
    duration: float = 0.0
    max_duration: float = 600.0
    start_vus: int = 1
    stages: tuple[Stage, ...] = ()
    graceful_ramp_down: float = 30.0
    graceful_stop: float = 30.0
    rate: float = 0.0
    time_unit: float = 1.0
    start_rate: float = 0.0
    pre_allocated_vus: int = 0
    max_vus: int = 0

    @property
    def open_model(self) -> bool:
        return self.executor in OPEN_MODEL

    @property
    def planned_duration(self) -> float:
        """How long the executor schedules work, before gracefulStop (max for iterations)."""
        if self.executor in (SHARED_ITERATIONS, PER_VU_ITERATIONS):
            return self.max_duration
        if self.executor in (CONSTANT_VUS, CONSTANT_ARRIVAL_RATE):
            return self.duration
        return total_duration(self.stages)

    @property
    def peak_vus(self) -> int:
        """Most VUs the executor may run at once (k6's vus_max)."""
        if self.executor == RAMPING_VUS:
            return max([self.start_vus, *(math.ceil(s.target) for s in self.stages)])
        if self.open_model:
            return max(self.max_vus, self.pre_allocated_vus)
        return self.vus

    @property
    def peak_rate(self) -> float:
        """Highest arrival rate per second (open model), else 0."""
        if self.executor == CONSTANT_ARRIVAL_RATE:
            return self.rate / self.time_unit
        if self.executor == RAMPING_ARRIVAL_RATE:
            return max([self.start_rate, *(s.target for s in self.stages)]) / self.time_unit
        return 0.0

    def options(self) -> dict[str, Any]:
        """The options this executor has, under k6's names (durations in seconds)."""
        accepts, _ = _ACCEPTS[self.executor]
        out: dict[str, Any] = {"executor": self.executor}
        for k6name, name in _NAMES.items():
            if name in accepts or name == "graceful_stop":
                value = getattr(self, name)
                if name == "stages":
                    value = [{"duration": s.duration, "target": s.target} for s in value]
                out[k6name] = value
        return out

    def describe(self) -> str:
        if self.executor in (SHARED_ITERATIONS, PER_VU_ITERATIONS):
            return f"{self.executor}: {self.iterations} iterations, {self.vus} VUs"
        if self.executor == CONSTANT_VUS:
            return f"{self.executor}: {self.vus} VUs for {self.duration:g}s"
        if self.executor == RAMPING_VUS:
            return f"{self.executor}: up to {self.peak_vus} VUs over {self.planned_duration:g}s"
        return (
            f"{self.executor}: up to {self.peak_rate:g} iters/s over {self.planned_duration:g}s, "
            f"maxVUs {self.peak_vus}"
        )

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> ExecutorConfig:
        """Validate a k6-style options table; ConfigError names the offending option."""
        executor = options.get("executor", CONSTANT_VUS)
        if executor not in EXECUTORS:
            raise ConfigError(
                "executor", f"unknown executor {executor!r} (known: {', '.join(EXECUTORS)})"
            )
        accepts, required = _ACCEPTS[executor]
        values: dict[str, Any] = {"executor": executor}
        seen: set[str] = set()
        for key, raw in options.items():
            if key == "executor":
                continue
            field = _NAMES.get(key) or _SNAKE.get(key)
            if field is None or (field not in accepts and field != "graceful_stop"):
                allowed = sorted(k for k, f in _NAMES.items() if f in accepts | {"graceful_stop"})
                raise ConfigError(
                    key, f"not an option of {executor} (options: {', '.join(allowed)})"
                )
            if field in seen:
                raise ConfigError(key, "given twice")
            seen.add(field)
            values[field] = _convert(key, field, raw)
        for field in required - seen:
            k6name = next(k for k, f in _NAMES.items() if f == field)
            raise ConfigError(k6name, f"{executor} requires {k6name}")
        cfg = cls(**values)
        if cfg.open_model and "max_vus" not in seen:
            cfg = replace(cfg, max_vus=cfg.pre_allocated_vus)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Cross-field rules (also run on configs built by code, e.g. from CLI flags)."""
        ex = self.executor
        if ex in (SHARED_ITERATIONS, PER_VU_ITERATIONS):
            if self.vus < 1:
                raise ConfigError("vus", "must be at least 1")
            if self.iterations < 1:
                raise ConfigError("iterations", "must be at least 1")
            if ex == SHARED_ITERATIONS and self.iterations < self.vus:
                raise ConfigError("iterations", f"must be at least vus ({self.vus}), as in k6")
        if ex == CONSTANT_VUS and self.vus < 1:
            raise ConfigError("vus", "must be at least 1")
        if ex in (CONSTANT_VUS, CONSTANT_ARRIVAL_RATE) and self.duration <= 0:
            raise ConfigError("duration", "must be positive")
        if ex in (RAMPING_VUS, RAMPING_ARRIVAL_RATE):
            if not self.stages:
                raise ConfigError("stages", "needs at least one stage")
            if total_duration(self.stages) <= 0:
                raise ConfigError("stages", "total duration must be positive")
        if ex == CONSTANT_ARRIVAL_RATE and self.rate <= 0:
            raise ConfigError("rate", "must be positive")
        if self.open_model:
            if self.time_unit <= 0:
                raise ConfigError("timeUnit", "must be positive")
            if self.pre_allocated_vus < 0:
                raise ConfigError("preAllocatedVUs", "must not be negative")
            if self.max_vus < max(self.pre_allocated_vus, 1):
                raise ConfigError(
                    "maxVUs", f"must be at least preAllocatedVUs ({self.pre_allocated_vus}) and 1"
                )


def _convert(key: str, field: str, raw: Any) -> Any:
    if field == "stages":
        return _stages(key, raw)
    if field in _DURATIONS:
        try:
            return parse_duration(raw)
        except (TypeError, ValueError) as exc:
            raise ConfigError(key, str(exc)) from None
    if field in _INTS:
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
            raise ConfigError(key, f"expected a whole number >= 0, got {raw!r}")
        return raw
    if field in _FLOATS:
        if isinstance(raw, bool) or not isinstance(raw, int | float) or raw < 0:
            raise ConfigError(key, f"expected a number >= 0, got {raw!r}")
        return float(raw)
    raise AssertionError(field)


def _stages(key: str, raw: Any) -> tuple[Stage, ...]:
    if not isinstance(raw, list):
        raise ConfigError(key, "expected a list of {duration, target} tables")
    out = []
    for i, st in enumerate(raw):
        if not isinstance(st, Mapping) or set(st) != {"duration", "target"}:
            raise ConfigError(f"{key}[{i}]", "expected exactly {duration = '30s', target = N}")
        target = st["target"]
        if isinstance(target, bool) or not isinstance(target, int | float) or target < 0:
            raise ConfigError(f"{key}[{i}].target", f"expected a number >= 0, got {target!r}")
        try:
            dur = parse_duration(st["duration"])
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{key}[{i}].duration", str(exc)) from None
        out.append(Stage(dur, float(target)))
    return tuple(out)
