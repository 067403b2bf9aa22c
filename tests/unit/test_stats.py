"""Significance on exact histograms (engine/stats.py) and the statistical judge on
seeded synthetic windows: the tests are right (against a textbook computation on the
expanded samples), calibrated (equal colors pass) and have power (a 15% slower green
fails)."""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from functools import cache
from statistics import NormalDist

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.deploy.marks import Mark
from engine.deploy.strategies import Analysis, ColorFigures, EventKind, judge
from engine.deploy.strategies.analysis import StatisticalJudge
from engine.load.metrics import new_histogram
from engine.stats import holm, mann_whitney, pair_tests, two_proportions, two_sided_p


def textbook_u(a: list[int], b: list[int]) -> tuple[float, float]:
    """U and the tie-corrected continuity-corrected z, the long way: every value ranked."""
    merged = sorted([(v, 0) for v in a] + [(v, 1) for v in b])
    ranks: dict[int, float] = {}
    i = 0
    while i < len(merged):
        j = i
        while j < len(merged) and merged[j][0] == merged[i][0]:
            j += 1
        ranks[merged[i][0]] = (i + 1 + j) / 2  # mid-rank of positions i+1..j
        i = j
    n_a, n_b = len(a), len(b)
    n = n_a + n_b
    u = sum(ranks[v] for v in a) - n_a * (n_a + 1) / 2
    ties = sum(t**3 - t for t in Counter(a + b).values())
    var = n_a * n_b / 12 * ((n + 1) - ties / (n * (n - 1)))
    gap = max(abs(u - n_a * n_b / 2) - 0.5, 0.0)
    return u, (math.copysign(gap, u - n_a * n_b / 2) / math.sqrt(var) if var > 0 else 0.0)


@given(
    st.lists(st.integers(0, 12), min_size=1, max_size=60),
    st.lists(st.integers(0, 12), min_size=1, max_size=60),
)
def test_u_from_buckets_is_the_u_of_the_samples(a: list[int], b: list[int]) -> None:
    got = mann_whitney(Counter(a), Counter(b))
    assert got is not None
    u, z = textbook_u(a, b)
    assert got.u == pytest.approx(u)
    assert got.z == pytest.approx(z)
    assert got.p == pytest.approx(two_sided_p(z))
    assert 0.0 <= got.p <= 1.0


def test_rank_test_table() -> None:
    # scipy.stats.mannwhitneyu([1,2,3], [4,5,6], method="asymptotic"): U 0, p 0.0809
    t = mann_whitney({1: 1, 2: 1, 3: 1}, {4: 1, 5: 1, 6: 1})
    assert t is not None and t.u == 0 and t.p == pytest.approx(0.0809, abs=1e-4)
    assert t.z < 0  # A ranks lower (faster)
    same = mann_whitney({7: 500}, {7: 300})  # one bucket: every value a tie
    assert same is not None and same.p == 1.0
    assert mann_whitney({}, {1: 3}) is None


def test_two_proportions_table() -> None:
    t = two_proportions(30, 1000, 10, 1000)  # 3% vs 1%: z 3.19, p 0.0014
    assert t is not None
    assert t.z == pytest.approx(3.194, abs=1e-3) and t.p == pytest.approx(0.0014, abs=1e-4)
    assert two_proportions(2, 300, 0, 300) is None  # expected 1 failure a side: too few
    assert two_proportions(0, 10**6, 0, 10**6) is None  # no failures: nothing to compare
    assert two_proportions(5, 0, 0, 100) is None


def test_holm_table() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx((0.03, 0.06, 0.06))
    assert holm([0.5]) == (0.5,)
    assert holm([0.6, 0.9]) == (1.0, 1.0)
    assert holm([]) == ()


@given(st.lists(st.floats(0.0, 1.0), max_size=8))
def test_holm_never_lowers_a_p_value_and_keeps_the_order(ps: list[float]) -> None:
    adjusted = holm(ps)
    assert all(q >= p and q <= 1.0 for p, q in zip(ps, adjusted, strict=True))
    ranked = sorted(range(len(ps)), key=lambda i: ps[i])
    assert [adjusted[i] for i in ranked] == sorted(adjusted)


def test_pair_tests_correct_only_what_was_judged() -> None:
    lat = {1: 100, 2: 100}
    both = pair_tests(lat, 1000, 30, lat, 1000, 10)
    assert both.errors is not None and both.errors_p == pytest.approx(2 * both.errors.p)
    alone = pair_tests(lat, 1000, 1, lat, 1000, 0)  # errors too few: latency judged alone
    assert alone.errors is None and alone.errors_p is None
    assert alone.latency is not None and alone.latency_p == alone.latency.p


# ------------------------------------------------------- seeded synthetic windows

_T = new_histogram()
_BINS = 256  # equal-probability bins of a lognormal (median 2 ms, sigma 0.25): one a byte
_VALUES_US = [2000 * math.exp(0.25 * NormalDist().inv_cdf((k + 0.5) / _BINS)) for k in range(_BINS)]
_FAILED = (0, 1, 2)  # byte values that fail: 3/256, 1.2% errors on both colors


@cache
def _indexes(scale: float) -> list[int]:
    return [_T.get_counts_array_index(round(v * scale)) for v in _VALUES_US]


def _window(rng: random.Random, n: int, scale: float) -> ColorFigures:
    """n requests: latencies from the lognormal times `scale`, 1.2% failed; as the driver
    builds a window (Mark.figures), from counts, not by recording values (one random
    byte a request picks its bin: fast enough for thousands of windows a second)."""
    index = _indexes(scale)
    counts: Counter[int] = Counter()
    for b, c in Counter(rng.randbytes(n)).items():
        counts[index[b]] += c
    errors = rng.randbytes(n)
    failed = sum(errors.count(v) for v in _FAILED)
    return Mark(0.0, n, failed, counts).figures()


_ANALYSIS = Analysis(judge=StatisticalJudge())


def _fails(seed: int, scale: float, n: int = 1000) -> bool:
    rng = random.Random(seed)
    figures = {"blue": _window(rng, n, 1.0), "green": _window(rng, n, scale)}
    verdict = judge(_ANALYSIS, figures)
    assert verdict.outcome is not EventKind.ANALYSIS_INCONCLUSIVE
    return verdict.outcome is EventKind.ANALYSIS_FAILED


def test_equal_colors_pass_at_least_99_percent_of_1000_trials() -> None:
    fails = sum(_fails(seed, 1.0) for seed in range(1000))
    assert fails <= 10


def test_a_green_15_percent_slower_fails_at_least_95_percent_of_1000_trials() -> None:
    fails = sum(_fails(seed, 1.15) for seed in range(1000, 2000))
    assert fails >= 950


def test_the_rank_test_alone_is_calibrated_on_equal_colors() -> None:
    """Not only the effect guard: the test's own false alarms are about 1 - confidence."""
    rng = random.Random(7)
    hits = 0
    for _ in range(500):
        a, b = _window(rng, 500, 1.0), _window(rng, 500, 1.0)
        t = pair_tests(a.counts, a.requests, a.failed, b.counts, b.requests, b.failed)
        hits += t.latency_p is not None and t.latency_p < 0.01
    assert 1 <= hits <= 15  # 1% expected (5): 15 is 4.5 standard deviations above


def test_reasons_say_why() -> None:
    rng = random.Random(3)
    blue, slow = _window(rng, 2000, 1.0), _window(rng, 2000, 1.3)
    failed = judge(_ANALYSIS, {"blue": blue, "green": slow})
    assert failed.outcome is EventKind.ANALYSIS_FAILED
    assert re.fullmatch(r"p50 \+\d\d% \(\S+ vs \S+ ms\), significant at 0.99: fail", failed.reason)
    same = judge(_ANALYSIS, {"blue": blue, "green": blue})
    assert same.outcome is EventKind.ANALYSIS_PASSED
    pattern = r"p50 \+0% \((\S+) vs \1 ms\), not significant \(p 1\); errors (\S+) vs \2, not"
    assert re.fullmatch(pattern + r" significant \(p 1\)", same.reason)
    quiet = ColorFigures(300, 2, blue.p99_ms, counts=blue.counts, p50_ms=blue.p50_ms)
    calm = ColorFigures(300, 0, blue.p99_ms, counts=blue.counts, p50_ms=blue.p50_ms)
    few = judge(_ANALYSIS, {"blue": calm, "green": quiet})
    assert "errors: 2 vs 0 in 300 vs 300 requests: too few to judge" in few.reason
    assert few.outcome is EventKind.ANALYSIS_PASSED
    alone = judge(_ANALYSIS, {"blue": ColorFigures(), "green": blue})
    assert alone.outcome is EventKind.ANALYSIS_INCONCLUSIVE and "blue too quiet" in alone.reason


_ALL_ERRORS = ColorFigures(500, 500, 5.0)


@pytest.mark.parametrize(
    ("figures", "outcome", "reason"),
    [
        (
            {"blue": ColorFigures(10, 0, 1.0), "green": _ALL_ERRORS},
            EventKind.ANALYSIS_INCONCLUSIVE,
            "blue too quiet to compare: 10 requests, need 50",
        ),
        ({"green": _ALL_ERRORS}, EventKind.ANALYSIS_INCONCLUSIVE, "blue too quiet to compare: 0"),
        (
            {
                "blue": ColorFigures(500, 0, 1.0),
                "baseline": ColorFigures(3, 0, 1.0),
                "green": _ALL_ERRORS,
            },
            EventKind.ANALYSIS_INCONCLUSIVE,
            "baseline too quiet to compare: 3 requests, need 50",
        ),
        (
            {"blue": ColorFigures(500, 0, 1.0), "green": _ALL_ERRORS},
            EventKind.ANALYSIS_FAILED,
            "errors 100.0% vs 0.0%",
        ),
    ],
)
def test_a_quiet_reference_is_no_evidence_green_is_fine(
    figures: dict[str, ColorFigures], outcome: EventKind, reason: str
) -> None:
    verdict = judge(_ANALYSIS, figures)
    assert verdict.outcome is outcome and reason in verdict.reason


def test_a_significant_shift_under_the_smallest_worth_failing_for_passes() -> None:
    rng = random.Random(5)
    blue, green = _window(rng, 20000, 1.0), _window(rng, 20000, 1.05)
    verdict = judge(_ANALYSIS, {"blue": blue, "green": green})
    assert verdict.outcome is EventKind.ANALYSIS_PASSED
    assert "significant at 0.99 but under 10%" in verdict.reason


def test_more_errors_fail_only_when_significant_and_a_point_or_more() -> None:
    lat = {1: 1000}
    figs = {"blue": ColorFigures(5000, 25, counts=lat)}  # 0.5%
    worse = judge(_ANALYSIS, {**figs, "green": ColorFigures(5000, 100, counts=lat)})  # 2%
    assert worse.outcome is EventKind.ANALYSIS_FAILED
    assert worse.reason == "errors 2.0% vs 0.5%, significant at 0.99: fail"
    small = judge(_ANALYSIS, {**figs, "green": ColorFigures(5000, 60, counts=lat)})  # 1.2%
    assert small.outcome is EventKind.ANALYSIS_PASSED
    assert "significant at 0.99 but under 1 point" in small.reason
