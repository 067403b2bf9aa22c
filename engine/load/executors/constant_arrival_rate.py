"""constant-arrival-rate: `rate` iterations per `timeUnit`, the first at 0 s (as k6)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.errors import ConfigError
from engine.load.executors.base import OpenType, Shape
from engine.load.stages import Stage

if TYPE_CHECKING:
    from engine.load.executors.config import ExecutorConfig


class ConstantArrivalRate(OpenType):
    name = "constant-arrival-rate"
    accepts = frozenset({"rate", "time_unit", "duration", "pre_allocated_vus", "max_vus", "queue"})
    required = frozenset({"rate", "duration", "pre_allocated_vus"})

    def shape(self, cfg: ExecutorConfig) -> Shape:
        return Shape(cfg.rate, (Stage(cfg.duration, cfg.rate),), cfg.time_unit)

    def planned_duration(self, cfg: ExecutorConfig) -> float:
        return cfg.duration

    def validate(self, cfg: ExecutorConfig) -> None:
        if cfg.duration <= 0:
            raise ConfigError("duration", "must be positive")
        if cfg.rate <= 0:
            raise ConfigError("rate", "must be positive")
        super().validate(cfg)

    def progress_label(self, cfg: ExecutorConfig, progress: float) -> str:
        return f"{cfg.rate / cfg.time_unit:g}/s"
