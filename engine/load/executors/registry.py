"""The six executor types by k6 name."""

from __future__ import annotations

from engine.load.executors.base import ExecutorType
from engine.load.executors.constant_arrival_rate import ConstantArrivalRate
from engine.load.executors.constant_vus import ConstantVus
from engine.load.executors.per_vu_iterations import PerVuIterations
from engine.load.executors.ramping_arrival_rate import RampingArrivalRate
from engine.load.executors.ramping_vus import RampingVus
from engine.load.executors.shared_iterations import SharedIterations

TYPES: dict[str, ExecutorType] = {
    t.name: t
    for t in (
        SharedIterations(),
        PerVuIterations(),
        ConstantVus(),
        RampingVus(),
        ConstantArrivalRate(),
        RampingArrivalRate(),
    )
}
