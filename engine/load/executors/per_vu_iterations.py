"""per-vu-iterations: each VU runs the same number of iterations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.load.executors.base import Budget, IterationsType, PerVuBudget

if TYPE_CHECKING:
    from engine.load.executors.config import ExecutorConfig


class PerVuIterations(IterationsType):
    name = "per-vu-iterations"

    def total_iterations(self, cfg: ExecutorConfig) -> int:
        return cfg.iterations * cfg.vus

    def budget(self, cfg: ExecutorConfig) -> Budget:
        return PerVuBudget(cfg.iterations, cfg.vus)
