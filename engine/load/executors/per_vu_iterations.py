"""per-vu-iterations: each VU runs the same number of iterations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.errors import ConfigError
from engine.load.executors.base import Budget, IterationsType, PerVuBudget

if TYPE_CHECKING:
    from engine.load.executors.config import ExecutorConfig


class PerVuIterations(IterationsType):
    name = "per-vu-iterations"

    def validate(self, cfg: ExecutorConfig) -> None:
        if cfg.vus < 1:
            raise ConfigError("vus", "must be at least 1")
        if cfg.iterations < 1:
            raise ConfigError("iterations", "must be at least 1")
        super().validate(cfg)

    def total_iterations(self, cfg: ExecutorConfig) -> int:
        return cfg.iterations * cfg.vus

    def budget(self, cfg: ExecutorConfig) -> Budget:
        return PerVuBudget(cfg.iterations, cfg.vus)
