"""k6's executors: one type each behind `ExecutorType`, and their validated options.

`ExecutorConfig` holds the options under k6's names and defaults; `cfg.kind` is the
executor's type, which answers everything that differs between executors.
"""

from engine.load.executors.base import Budget, ExecutorType, Shape, split_int
from engine.load.executors.config import (
    CONSTANT_ARRIVAL_RATE,
    CONSTANT_VUS,
    EXECUTORS,
    OPEN_MODEL,
    PER_VU_ITERATIONS,
    RAMPING_ARRIVAL_RATE,
    RAMPING_VUS,
    SHARED_ITERATIONS,
    ExecutorConfig,
)
from engine.load.executors.registry import TYPES

__all__ = [
    "CONSTANT_ARRIVAL_RATE",
    "CONSTANT_VUS",
    "EXECUTORS",
    "OPEN_MODEL",
    "PER_VU_ITERATIONS",
    "RAMPING_ARRIVAL_RATE",
    "RAMPING_VUS",
    "SHARED_ITERATIONS",
    "TYPES",
    "Budget",
    "ExecutorConfig",
    "ExecutorType",
    "Shape",
    "split_int",
]
