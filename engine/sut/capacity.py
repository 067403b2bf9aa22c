"""`surge sut --capacity N`: a server of known capacity, for the capacity search's tests.

A token bucket refilled at N per second that holds one token (no burst): request k
is served at the later of its arrival and the previous one's slot + 1/N, and waits
for it. Below N requests/s nothing waits; above it the queue grows by (rate - N)
requests every second, so latency climbs linearly for as long as the load lasts,
the way a saturated server's does. The wait is a timer on the reply (as latency is),
so queued requests cost no CPU.
"""

from __future__ import annotations

__all__ = ["CapacityQueue"]


class CapacityQueue:
    """Service slots at most `rate` per second; `wait(now)` takes the next one."""

    __slots__ = ("_gap", "_next")

    def __init__(self, rate: float) -> None:
        if not rate > 0:
            raise ValueError(f"capacity must be a positive number of requests/s, got {rate!r}")
        self._gap = 1.0 / rate
        self._next = 0.0

    def wait(self, now: float) -> float:
        """Seconds request arriving at `now` (loop time) waits for its slot."""
        slot = max(now, self._next)
        self._next = slot + self._gap
        return slot - now
