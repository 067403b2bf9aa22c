"""ramping-arrival-rate: the arrival rate follows stages from startRate.

As in k6, the first iteration starts once a whole one has accrued, not at 0 s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.load.executors.base import OpenType, Shape, StagedType
from engine.load.executors.ramping_vus import check_stages

if TYPE_CHECKING:
    from engine.load.executors.config import ExecutorConfig


class RampingArrivalRate(OpenType, StagedType):
    name = "ramping-arrival-rate"
    accepts = frozenset(
        {"start_rate", "time_unit", "stages", "pre_allocated_vus", "max_vus", "queue"}
    )
    required = frozenset({"stages", "pre_allocated_vus"})
    first = 1

    def shape(self, cfg: ExecutorConfig) -> Shape:
        return Shape(cfg.start_rate, cfg.stages, cfg.time_unit)

    def validate(self, cfg: ExecutorConfig) -> None:
        check_stages(cfg)
        super().validate(cfg)
