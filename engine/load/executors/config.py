"""k6's executors as validated configuration: names, options and defaults as in k6.

`ExecutorConfig.from_options` takes k6's option names (camelCase, as in a k6
script) or their snake_case spelling, and rejects options an executor does not
have, as k6 does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from engine.durations import parse_duration
from engine.errors import ConfigError, did_you_mean
from engine.limits import (
    MAX_DURATION_S,
    MAX_ITERATIONS,
    MAX_RATE,
    MAX_VUS,
    check_count,
    check_number,
)
from engine.load.executors.base import ExecutorType
from engine.load.executors.constant_arrival_rate import ConstantArrivalRate
from engine.load.executors.constant_vus import ConstantVus
from engine.load.executors.per_vu_iterations import PerVuIterations
from engine.load.executors.ramping_arrival_rate import RampingArrivalRate
from engine.load.executors.ramping_vus import RampingVus
from engine.load.executors.registry import TYPES
from engine.load.executors.shared_iterations import SharedIterations
from engine.load.stages import Stage

SHARED_ITERATIONS = SharedIterations.name
PER_VU_ITERATIONS = PerVuIterations.name
CONSTANT_VUS = ConstantVus.name
RAMPING_VUS = RampingVus.name
CONSTANT_ARRIVAL_RATE = ConstantArrivalRate.name
RAMPING_ARRIVAL_RATE = RampingArrivalRate.name

EXECUTORS = tuple(TYPES)
OPEN_MODEL = frozenset(name for name, t in TYPES.items() if t.open_model)

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
    "queue": "queue",  # Surge's own (arrival rate): wait for a free VU instead of dropping
}
_SNAKE = {v: v for v in _NAMES.values()}

_DURATIONS = {"duration", "max_duration", "graceful_ramp_down", "graceful_stop", "time_unit"}
_INTS = {"vus", "iterations", "start_vus", "pre_allocated_vus", "max_vus"}
_FLOATS = {"rate", "start_rate"}
_BOOLS = {"queue"}


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
    # Arrival rate with no free VU at an iteration's due time: k6 drops it (False); with
    # `queue` it waits for the next free VU and the wait is in `latency` (wrk2's model).
    queue: bool = False

    @property
    def kind(self) -> ExecutorType:
        """The executor's type: everything that differs between executors is asked of it."""
        return TYPES[self.executor]

    @property
    def open_model(self) -> bool:
        return self.kind.open_model

    @property
    def planned_duration(self) -> float:
        """How long the executor schedules work, before gracefulStop (max for iterations)."""
        return self.kind.planned_duration(self)

    @property
    def peak_vus(self) -> int:
        """Most VUs the executor may run at once (k6's vus_max)."""
        return self.kind.peak_vus(self)

    @property
    def peak_rate(self) -> float:
        """Highest arrival rate per second (open model), else 0."""
        return self.kind.peak_rate(self)

    def options(self) -> dict[str, Any]:
        """The options this executor has, under k6's names (durations in seconds)."""
        accepts = self.kind.accepts
        out: dict[str, Any] = {"executor": self.executor}
        for k6name, name in _NAMES.items():
            if name in accepts or name == "graceful_stop":
                value = getattr(self, name)
                if name == "stages":
                    value = [{"duration": s.duration, "target": s.target} for s in value]
                out[k6name] = value
        return out

    def describe(self) -> str:
        return self.kind.describe(self)

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> ExecutorConfig:
        """Validate a k6-style options table; ConfigError names the offending option."""
        executor = options.get("executor", CONSTANT_VUS)
        if executor not in EXECUTORS:
            hint = did_you_mean(str(executor), EXECUTORS)
            raise ConfigError(
                "executor", f"unknown executor {executor!r}{hint} (known: {', '.join(EXECUTORS)})"
            )
        accepts, required = TYPES[executor].accepts, TYPES[executor].required
        values: dict[str, Any] = {"executor": executor}
        seen: set[str] = set()
        for key, raw in options.items():
            if key == "executor":
                continue
            field = _NAMES.get(key) or _SNAKE.get(key)
            if field is None or (field not in accepts and field != "graceful_stop"):
                allowed = sorted(k for k, f in _NAMES.items() if f in accepts | {"graceful_stop"})
                hint = did_you_mean(key, allowed)
                raise ConfigError(
                    key, f"not an option of {executor}{hint} (options: {', '.join(allowed)})"
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
        """Ranges, then cross-field rules (also run on configs built by code, e.g. from CLI
        flags): a plan that passes starts at once and stops on Ctrl+C."""
        self._check_ranges()
        self.kind.validate(self)

    def _check_ranges(self) -> None:
        counts = {
            "vus": (self.vus, MAX_VUS),
            "startVUs": (self.start_vus, MAX_VUS),
            "preAllocatedVUs": (self.pre_allocated_vus, MAX_VUS),
            "maxVUs": (self.max_vus, MAX_VUS),
            "iterations": (self.iterations, MAX_ITERATIONS),
        }
        for key, (value, limit) in counts.items():
            if why := check_count(value, limit):
                raise ConfigError(key, why)
        for key, value in (("rate", self.rate), ("startRate", self.start_rate)):
            if why := check_number(value, MAX_RATE):
                raise ConfigError(key, why)
        target_limit = MAX_RATE if self.open_model else float(MAX_VUS)
        for i, stage in enumerate(self.stages):
            if why := check_number(stage.target, target_limit):
                raise ConfigError(f"stages[{i}].target", why)
            if why := check_number(stage.duration, MAX_DURATION_S):
                raise ConfigError(f"stages[{i}].duration", why)
        for key, value in (
            ("duration", self.duration),
            ("maxDuration", self.max_duration),
            ("gracefulStop", self.graceful_stop),
            ("gracefulRampDown", self.graceful_ramp_down),
            ("timeUnit", self.time_unit),
        ):
            if why := check_number(value, MAX_DURATION_S):
                raise ConfigError(key, why)


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
    if field in _BOOLS:
        if not isinstance(raw, bool):
            raise ConfigError(key, f"expected true or false, got {raw!r}")
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
