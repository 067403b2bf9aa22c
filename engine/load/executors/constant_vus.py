"""constant-vus: a fixed number of VUs looping for a duration."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.errors import ConfigError
from engine.load.executors.base import ClosedType

if TYPE_CHECKING:
    from engine.load.executors.config import ExecutorConfig


class ConstantVus(ClosedType):
    name = "constant-vus"
    accepts = frozenset({"vus", "duration"})
    required = frozenset({"duration"})

    def validate(self, cfg: ExecutorConfig) -> None:
        if cfg.vus < 1:
            raise ConfigError("vus", "must be at least 1")
        if cfg.duration <= 0:
            raise ConfigError("duration", "must be positive")

    def planned_duration(self, cfg: ExecutorConfig) -> float:
        return cfg.duration

    def describe(self, cfg: ExecutorConfig) -> str:
        return f"{cfg.executor}: {cfg.vus} VUs for {cfg.duration:g}s"

    def progress_label(self, cfg: ExecutorConfig, progress: float) -> str:
        return f"{cfg.vus} VUs"
