"""The capacity search, against a simulated server of known capacity (no load at all)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.explore.capacity import CapacitySettings, judge_step, next_rate, result
from engine.explore.model import CapacityResult, CapacityStep

Server = Callable[[float, int], CapacityStep]  # (rate, step index) -> how it went


def server(capacity: float, *, noisy_at: set[int] | None = None, drives: float = 1e12) -> Server:
    """Holds up to `capacity`; fails (noise) at the step numbers in `noisy_at`; the
    generator cannot drive more than `drives`."""

    def step(rate: float, i: int) -> CapacityStep:
        limited = rate > drives
        held = rate <= capacity and i not in (noisy_at or set()) and not limited
        return CapacityStep(rate, held, generator_limited=limited)

    return step


def search(s: CapacitySettings, srv: Server) -> CapacityResult:
    steps: list[CapacityStep] = []
    while (rate := next_rate(s, steps)) is not None:
        steps.append(srv(rate, len(steps)))
    return result(s, steps)


def rates(r: CapacityResult) -> list[float]:
    return [s.rate for s in r.steps]


def test_exponential_then_bisection_to_the_precision() -> None:
    r = search(CapacitySettings(start=50, precision=0.05), server(430))
    assert rates(r)[:5] == [50, 100, 200, 400, 800]
    assert r.rate is not None and r.failed_at is not None
    assert r.rate <= 430 < r.failed_at
    assert (r.failed_at - r.rate) / r.failed_at <= 0.05
    # the failure close above the edge was run twice before it counted
    assert rates(r).count(r.failed_at) == 2


def test_a_noisy_failure_near_the_edge_is_run_again_and_does_not_decide() -> None:
    clean = search(CapacitySettings(start=50), server(430))
    noisy_at = {rates(clean).index(400)}  # 400 holds, but this once it looked failed
    r = search(CapacitySettings(start=50), server(430, noisy_at=noisy_at))
    assert rates(r)[:5] == [50, 100, 200, 400, 300]
    assert rates(r).count(400) == 2  # run again near the edge: it held
    assert r.rate == clean.rate and r.failed_at == clean.failed_at


@pytest.mark.parametrize(
    ("capacity", "expected"),
    [
        (5, (None, 10)),  # even the first step failed (twice)
        (10**9, (1000, None)),  # never failed up to max
    ],
)
def test_the_ends(capacity: float, expected: tuple[float | None, float | None]) -> None:
    r = search(CapacitySettings(start=10, max=1000), server(capacity))
    assert (r.rate, r.failed_at) == expected
    if capacity == 5:
        assert rates(r) == [10, 10]


def test_a_rate_the_generator_could_not_drive_is_not_the_servers_limit() -> None:
    r = search(CapacitySettings(start=10), server(5000, drives=300))
    assert r.failed_at is None  # the server never failed
    assert r.rate is not None and 300 * 0.95 <= r.rate <= 300
    assert any(s.generator_limited for s in r.steps)


@settings(max_examples=300, deadline=None)
@given(
    capacity=st.floats(min_value=1, max_value=1e5),
    start=st.floats(min_value=1, max_value=1000),
    precision=st.sampled_from([0.01, 0.05, 0.1, 0.2]),
)
def test_finds_any_capacity_within_its_precision(
    capacity: float, start: float, precision: float
) -> None:
    s = CapacitySettings(start=start, max=2e5, precision=precision)
    r = search(s, server(capacity))
    if capacity < start:
        assert r.rate is None
        return
    assert r.rate is not None and r.failed_at is not None
    assert r.rate <= capacity < r.failed_at
    assert (r.failed_at - r.rate) / r.failed_at <= precision
    assert len(r.steps) < 40


@pytest.mark.parametrize(
    ("kw", "held", "limited"),
    [
        ({}, True, False),
        ({"thresholds_ok": False}, False, False),
        ({"dropped": 3}, False, True),  # no free VU while the SLO held: Surge's limit
        ({"dropped": 3, "thresholds_ok": False}, False, False),  # drops count against it
        ({"cpu_percent": 95.0}, False, True),
    ],
)
def test_judge_step(kw: dict[str, object], held: bool, limited: bool) -> None:
    args: dict[str, object] = {
        "thresholds_ok": True,
        "values": {"http_req_duration p(99)<50": 12.0},
        "achieved_rate": 99.0,
        "latency": (1.0, 2.0, 3.0),
        "error_rate": 0.0,
        "dropped": 0,
        "cpu_percent": 20.0,
        "start": 0.0,
        "end": 2.0,
    }
    step = judge_step(100.0, **{**args, **kw})  # type: ignore[arg-type]
    assert (step.held, step.generator_limited) == (held, limited)
    assert step.p99 == 3.0 and step.values == {"http_req_duration p(99)<50": 12.0}


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"hold": 0}, "hold"),
        ({"start": -1}, "start"),
        ({"start": 100, "max": 10}, "max"),
        ({"precision": 1.5}, "precision"),
    ],
)
def test_settings_are_checked(kw: dict[str, float], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        CapacitySettings(**kw)
