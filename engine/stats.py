"""Significance tests on exact histograms: pure functions, no sampling, no scipy.

Why from HDR bucket counts: Surge keeps every request's latency in an HDR histogram
(index -> count, 3 significant digits), so a rank test needs no raw samples. Values in
one bucket are equal to the histogram's precision, so they are ties: each bucket gets
the mid-rank of its run in the merged order, and the tie-corrected normal
approximation of Mann-Whitney U is then computed in one pass over the buckets
(O(buckets), a few hundred to a few thousand, not O(requests)).

- `mann_whitney`: two-sided p-value of "one color's latencies are stochastically
  larger or smaller than the other's" (with the continuity correction, as scipy's
  default does); `z > 0` means the first sample is the slower.
- `two_proportions`: the pooled two-proportion z-test on error counts, refused (None)
  when an expected count is under `MIN_EXPECTED` (Cochran's rule): with 2 errors in
  300 requests the normal approximation says nothing worth acting on.
- `holm`: Holm's step-down adjustment over the figures judged together, so judging
  latency and errors in one window does not double the false alarms.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

__all__ = [
    "MIN_EXPECTED",
    "PairTests",
    "ProportionTest",
    "RankTest",
    "hdr_counts",
    "holm",
    "mann_whitney",
    "pair_tests",
    "two_proportions",
    "two_sided_p",
]

MIN_EXPECTED = 5.0  # Cochran's rule: every expected cell count at least 5


@dataclass(frozen=True)
class RankTest:
    """Mann-Whitney U of sample A against sample B (A's U; z > 0: A ranks higher)."""

    u: float
    z: float
    p: float  # two-sided
    n_a: int
    n_b: int


@dataclass(frozen=True)
class ProportionTest:
    """Two-proportion z-test of A's failures against B's (z > 0: A fails more often)."""

    z: float
    p: float  # two-sided


def two_sided_p(z: float) -> float:
    """P(|Z| >= |z|) for a standard normal Z: erfc(|z| / sqrt 2)."""
    return math.erfc(abs(z) / math.sqrt(2.0))


def mann_whitney(a: Mapping[int, int], b: Mapping[int, int]) -> RankTest | None:
    """U from mid-ranks over the merged buckets; None when either side is empty."""
    n_a, n_b = sum(a.values()), sum(b.values())
    if n_a == 0 or n_b == 0:
        return None
    n = n_a + n_b
    rank_sum = 0.0  # A's
    ties = 0.0  # sum of t^3 - t over the tie groups (buckets)
    below = 0  # values in earlier buckets
    for index in sorted(a.keys() | b.keys()):
        ca, cb = a.get(index, 0), b.get(index, 0)
        t = ca + cb
        if t == 0:
            continue
        rank_sum += ca * (below + (t + 1) / 2)
        ties += t**3 - t
        below += t
    u = rank_sum - n_a * (n_a + 1) / 2
    mean = n_a * n_b / 2
    var = n_a * n_b / 12 * ((n + 1) - ties / (n * (n - 1)))
    if var <= 0:  # every value in one bucket: nothing to tell apart
        return RankTest(u, 0.0, 1.0, n_a, n_b)
    gap = abs(u - mean) - 0.5  # continuity correction
    z = math.copysign(max(gap, 0.0), u - mean) / math.sqrt(var)
    return RankTest(u, z, two_sided_p(z), n_a, n_b)


def two_proportions(
    x_a: int, n_a: int, x_b: int, n_b: int, min_expected: float = MIN_EXPECTED
) -> ProportionTest | None:
    """Pooled z-test of x_a/n_a against x_b/n_b; None when too few to judge: any
    expected count of failures or successes under `min_expected`."""
    if n_a <= 0 or n_b <= 0:
        return None
    pooled = (x_a + x_b) / (n_a + n_b)
    expected = (pooled * n_a, pooled * n_b, (1 - pooled) * n_a, (1 - pooled) * n_b)
    if min(expected) < min_expected:
        return None
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    z = (x_a / n_a - x_b / n_b) / se
    return ProportionTest(z, two_sided_p(z))


def holm(pvalues: Sequence[float]) -> tuple[float, ...]:
    """Holm-adjusted p-values, in the given order: compare each with 1 - confidence."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    out = [1.0] * m
    running = 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (m - k) * pvalues[i]))
        out[i] = running
    return tuple(out)


def hdr_counts(h: HdrHistogram) -> Iterable[tuple[int, int]]:
    """(index, count) over the histogram's recorded range only: a few hundred, not 23k."""
    if not h.get_total_count():
        return ()
    lo = h.get_counts_array_index(h.get_min_value())
    hi = min(h.get_counts_array_index(h.get_max_value()), h.counts_len - 1)
    counts = h.counts
    return ((i, counts[i]) for i in range(lo, hi + 1) if counts[i])


@dataclass(frozen=True)
class PairTests:
    """Sample A (green, NEW) against B (blue, BASE): a rank test on latency and a
    proportion test on errors, each None when not judged, and their Holm-adjusted
    p-values (None likewise)."""

    latency: RankTest | None
    errors: ProportionTest | None
    latency_p: float | None
    errors_p: float | None


def pair_tests(
    a_counts: Mapping[int, int],
    a_requests: int,
    a_failed: int,
    b_counts: Mapping[int, int],
    b_requests: int,
    b_failed: int,
) -> PairTests:
    """Both tests on one pair, Holm-corrected over the ones that could be judged."""
    latency = mann_whitney(a_counts, b_counts)
    errors = two_proportions(a_failed, a_requests, b_failed, b_requests)
    judged = [t.p for t in (latency, errors) if t is not None]
    adjusted = iter(holm(judged))
    latency_p = next(adjusted) if latency is not None else None
    errors_p = next(adjusted) if errors is not None else None
    return PairTests(latency, errors, latency_p, errors_p)
