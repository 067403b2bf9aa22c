"""ramping-vus: VUs follow stages from startVUs; ramp-downs get gracefulRampDown."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

from engine.errors import ConfigError
from engine.load.executors.base import Shape, StagedType, split_int
from engine.load.stages import Stage, total_duration, vus_at

if TYPE_CHECKING:
    from engine.load.executors.config import ExecutorConfig


def check_stages(cfg: ExecutorConfig) -> None:
    if not cfg.stages:
        raise ConfigError("stages", "needs at least one stage")
    if total_duration(cfg.stages) <= 0:
        raise ConfigError("stages", "total duration must be positive")


class RampingVus(StagedType):
    name = "ramping-vus"
    accepts = frozenset({"start_vus", "stages", "graceful_ramp_down"})
    required = frozenset({"stages"})
    unit_label = " VUs"

    def shape(self, cfg: ExecutorConfig) -> Shape:
        return Shape(float(cfg.start_vus), cfg.stages)

    def validate(self, cfg: ExecutorConfig) -> None:
        check_stages(cfg)

    def peak_vus(self, cfg: ExecutorConfig) -> int:
        return max([cfg.start_vus, *(math.ceil(s.target) for s in cfg.stages)])

    def vus_at(self, cfg: ExecutorConfig, t: float) -> int:
        return vus_at(cfg.start_vus, cfg.stages, t)

    def describe(self, cfg: ExecutorConfig) -> str:
        return (
            f"{cfg.executor}: up to {self.peak_vus(cfg)} VUs over {self.planned_duration(cfg):g}s"
        )

    def split(self, cfg: ExecutorConfig, n: int) -> list[ExecutorConfig]:
        starts = split_int(cfg.start_vus, n)
        per_stage = [split_int(round(s.target), n) for s in cfg.stages]
        return [
            replace(
                cfg,
                start_vus=starts[i],
                stages=tuple(
                    Stage(s.duration, float(t[i]))
                    for s, t in zip(cfg.stages, per_stage, strict=True)
                ),
            )
            for i in range(n)
        ]
