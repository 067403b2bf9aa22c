"""shared-iterations: a fixed number of iterations shared between a number of VUs."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from engine.errors import ConfigError
from engine.load.executors.base import Budget, IterationsType, SharedBudget, split_int

if TYPE_CHECKING:
    from engine.load.executors.config import ExecutorConfig


class SharedIterations(IterationsType):
    name = "shared-iterations"

    def validate(self, cfg: ExecutorConfig) -> None:
        super().validate(cfg)
        if cfg.iterations < cfg.vus:
            raise ConfigError("iterations", f"must be at least vus ({cfg.vus}), as in k6")

    def budget(self, cfg: ExecutorConfig) -> Budget:
        return SharedBudget(cfg.iterations)

    def split(self, cfg: ExecutorConfig, n: int) -> list[ExecutorConfig]:
        return [
            replace(cfg, vus=v, iterations=i)
            for v, i in zip(split_int(cfg.vus, n), split_int(cfg.iterations, n), strict=True)
        ]
