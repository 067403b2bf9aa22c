"""Stage math and pacing: pure functions, table-tested."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from engine.durations import format_duration, parse_duration
from engine.load.pacing import Pacer
from engine.load.stages import (
    Stage,
    arrival_time,
    arrivals_until,
    format_stages,
    parse_stages,
    value_at,
    vus_at,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("1m30s", 90.0),
        ("500ms", 0.5),
        ("2h", 7200.0),
        ("1.5s", 1.5),
        ("10", 10.0),
        (3, 3.0),
        ("1h1m1s", 3661.0),
    ],
)
def test_parse_duration(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "10x", "-5s", "1m-3s", "s", [1], None])
def test_parse_duration_rejects(text: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        parse_duration(text)  # type: ignore[arg-type]


@pytest.mark.parametrize("seconds", [0.5, 1, 59, 60, 61, 3600, 3661, 86399])
def test_format_duration_round_trips(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


def test_parse_stages_cli_form() -> None:
    stages = parse_stages("30s:50,1m:50,30s:0")
    assert stages == (Stage(30, 50), Stage(60, 50), Stage(30, 0))
    assert parse_stages(format_stages(stages)) == stages


@pytest.mark.parametrize("text", ["30s", "30s:x", "abc:5", "30s:-1", ""])
def test_parse_stages_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_stages(text)


RAMP = (Stage(10, 100), Stage(10, 100), Stage(10, 0))


@pytest.mark.parametrize(
    ("t", "value"),
    [(0, 0), (5, 50), (10, 100), (15, 100), (25, 50), (30, 0), (99, 0)],
)
def test_value_at_interpolates_linearly(t: float, value: float) -> None:
    assert value_at(0, RAMP, t) == pytest.approx(value)


def test_vus_round_to_nearest_and_start_from_start_vus() -> None:
    stages = (Stage(10, 3),)
    assert [vus_at(1, stages, t) for t in (0, 2.4, 2.6, 5, 9.9, 10)] == [1, 1, 2, 2, 3, 3]


@pytest.mark.parametrize(
    ("start", "stages", "t", "count"),
    [
        (10, (Stage(10, 10),), 10, 100),  # constant 10/s
        (0, (Stage(10, 100),), 10, 500),  # ramp 0 -> 100 over 10 s: the triangle
        (0, (Stage(10, 100),), 5, 125),
        (0, RAMP, 30, 2000),  # 500 + 1000 + 500
        (60, (Stage(60, 60),), 60, 60),  # with timeUnit 1m below
    ],
)
def test_arrivals_until_integrates_the_rate(start, stages, t, count) -> None:
    unit = 60.0 if start == 60 else 1.0
    assert arrivals_until(start, stages, t, unit) == pytest.approx(count)


def test_arrival_times_of_a_constant_rate_are_evenly_spaced() -> None:
    stages = (Stage(1, 10),)
    times = [arrival_time(10, stages, n, 1.0) for n in range(12)]
    assert times[:11] == pytest.approx([n / 10 for n in range(11)])
    assert times[11] is None  # as in k6: 0.0 to 1.0 inclusive, 11 iterations, then the end


def test_arrival_times_of_a_ramp_follow_the_square_root() -> None:
    # N(t) = 5 t^2 for a ramp 0 -> 100/s over 10 s, so the n-th is due at sqrt(n / 5).
    stages = (Stage(10, 100),)
    for n in (1, 5, 20, 125, 499):
        assert arrival_time(0, stages, n, 1.0) == pytest.approx(math.sqrt(n / 5))


@given(
    start=st.floats(0, 1000),
    stages=st.lists(
        st.builds(Stage, st.floats(0.1, 100), st.floats(0, 1000)), min_size=1, max_size=5
    ),
    frac=st.floats(0, 0.999),
)
def test_arrival_time_inverts_arrivals_until(start, stages, frac) -> None:
    total = arrivals_until(start, stages, sum(s.duration for s in stages), 1.0)
    assume(total > 1e-6)  # a schedule of zero rate has no arrivals at all
    n = frac * total
    t = arrival_time(start, stages, n, 1.0)
    assert t is not None
    assert arrivals_until(start, stages, t, 1.0) == pytest.approx(n, rel=1e-6, abs=1e-6)


def test_pacer_rescales_without_a_jump() -> None:
    pacer = Pacer(100, (Stage(10, 100),), 1.0)
    assert pacer.due(100) == pytest.approx(1.0)
    pacer.rescale(2.0, next_n=100, now=1.0)
    assert pacer.due(100) == pytest.approx(1.0)  # no jump at the change
    assert pacer.due(300) == pytest.approx(2.0)  # then twice the rate
    assert pacer.rate_at(5) == pytest.approx(200)
