"""`surge sut --capacity N`'s queue: one service slot every 1/N s, the rest wait."""

from __future__ import annotations

import pytest

from engine.sut import SutConfig
from engine.sut.capacity import CapacityQueue


def test_below_capacity_nothing_waits() -> None:
    q = CapacityQueue(100)
    assert [q.wait(i * 0.02) for i in range(50)] == [0.0] * 50  # 50/s


def test_beyond_capacity_the_wait_climbs_linearly() -> None:
    q = CapacityQueue(100)
    waits = [q.wait(i * 0.005) for i in range(200)]  # 200/s for 1 s: 100/s too many
    assert waits[0] == 0.0
    assert waits[-1] == pytest.approx(199 * 0.01 - 199 * 0.005)  # ~1 s queued
    assert waits == sorted(waits)


def test_the_queue_drains_when_the_load_falls() -> None:
    q = CapacityQueue(10)
    for _ in range(10):
        q.wait(0.0)  # ten at once: the last served at 0.9 s
    assert q.wait(0.5) == pytest.approx(0.5)
    assert q.wait(5.0) == 0.0


@pytest.mark.parametrize("bad", [0, -5, float("nan"), float("inf")])
def test_capacity_must_be_a_positive_number(bad: float) -> None:
    with pytest.raises(ValueError, match="capacity"):
        SutConfig(port=0, capacity=bad)
