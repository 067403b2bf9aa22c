"""Error injection that tests can count: an exact integer schedule, not `random`."""

from __future__ import annotations

from fractions import Fraction

__all__ = ["ErrorSchedule"]


class ErrorSchedule:
    """Deterministic error injection: request n fails iff floor(n*r) > floor((n-1)*r).

    Exact rational arithmetic (the rate's decimal spelling, not its binary float)
    makes 0.1 over 1000 requests exactly 100 failures, which tests rely on.
    """

    __slots__ = ("_den", "_n", "_num")

    def __init__(self, rate: float) -> None:
        frac = Fraction(repr(rate)).limit_denominator(10**9)
        self._num = frac.numerator
        self._den = frac.denominator
        self._n = 0

    def next_fails(self) -> bool:
        if self._num == 0:
            return False
        self._n = n = self._n + 1
        return (n * self._num) // self._den > ((n - 1) * self._num) // self._den
