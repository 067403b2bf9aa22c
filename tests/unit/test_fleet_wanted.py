"""Which instances a rollout wants running, from the strategy's state alone (recipes)."""

from __future__ import annotations

import pytest

from engine.deploy.fleet import Wanted, wanted, with_baseline
from engine.deploy.strategies import (
    Analysis,
    Canary,
    Linear,
    Manual,
    Rolling,
    Switch,
    Weights,
)

COUNTS = {"blue": 4, "green": 4}


def test_before_the_start_and_after_a_rollback_only_blue_runs() -> None:
    s = Linear(25, 1.0)
    assert wanted(s, COUNTS) == Wanted((0, 1, 2, 3), ())
    s.start(0.0)
    s.rollback(0.5)
    assert wanted(s, COUNTS) == Wanted((0, 1, 2, 3), ())


@pytest.mark.parametrize(
    ("percent", "canary", "green"),
    [(10, 1, (0,)), (25, 1, (0,)), (50, 1, (0, 1)), (60, 1, (0, 1, 2)), (10, 2, (0, 1))],
)
def test_a_canary_grows_green_with_its_weight(
    percent: int, canary: int, green: tuple[int, ...]
) -> None:
    s = Canary(Analysis(interval=1.0), steps=[percent, 100])
    s.start(0.0)
    assert wanted(s, COUNTS, canary_instances=canary) == Wanted((0, 1, 2, 3), green)


def test_manual_at_zero_still_runs_the_canary_instances() -> None:
    s = Manual(10)
    s.start(0.0)
    assert wanted(s, COUNTS, canary_instances=2).green == (0, 1)


def test_blue_green_runs_both_sets_then_keeps_blue_only_while_asked() -> None:
    s = Switch(Analysis(interval=1.0))
    s.start(0.0)  # smoking green
    assert wanted(s, COUNTS) == Wanted((0, 1, 2, 3), (0, 1, 2, 3))
    s.promote(1.0)
    assert wanted(s, COUNTS, keep_blue=True) == Wanted((0, 1, 2, 3), (0, 1, 2, 3))
    assert wanted(s, COUNTS, keep_blue=False) == Wanted((), (0, 1, 2, 3))


def test_rolling_wants_exactly_its_in_service_sets() -> None:
    s = Rolling(3, 1, 1.0, additional_batch=True)
    s.start(0.0)
    assert wanted(s, {"blue": 3, "green": 3}) == Wanted((0, 1, 2), (0,))
    s.step(1.0)
    assert wanted(s, {"blue": 3, "green": 3}) == Wanted((1, 2), (0,))


def test_hold_restarts_the_wait_and_the_window() -> None:
    s = Rolling(3, 1, 1.0)
    s.start(0.0)
    d = s.hold(0.8)
    assert d.new_window and s.due == 1.8
    assert s.step(1.5).events == ()  # still held
    assert s.step(1.8).events


def test_a_baseline_runs_beside_the_canary_and_goes_with_it() -> None:
    s = Canary(Analysis(interval=1.0), steps=[10, 100])
    assert wanted(s, COUNTS, baseline=True).baseline == ()  # not before the start
    s.start(0.0)
    assert wanted(s, COUNTS, baseline=True) == Wanted((0, 1, 2, 3), (0,), (0,))
    assert wanted(s, COUNTS).baseline == ()  # only when asked
    s.promote(1.0)
    assert wanted(s, COUNTS, baseline=True).baseline == ()
    s = Canary(Analysis(interval=1.0), steps=[10, 100])
    s.start(0.0)
    s.rollback(0.5)
    assert wanted(s, COUNTS, baseline=True).baseline == ()


@pytest.mark.parametrize(
    ("green_weight", "green", "baseline", "router_green"),
    [
        (10, 1, 1, 20),  # one canary, one baseline: 10% each
        (25, 2, 1, 38),  # two canaries share 25%, the baseline gets one's share (12.5%)
        (60, 1, 1, 100),  # capped: blue can give no more
        (10, 1, 0, 10),  # no baseline serving: the strategy's weights as they are
        (0, 1, 1, 0),  # rolled back: nothing to green's pool
    ],
)
def test_the_baseline_gets_a_canary_instances_share(
    green_weight: int, green: int, baseline: int, router_green: int
) -> None:
    weights = Weights.green_percent(green_weight)
    assert with_baseline(weights, green, baseline) == Weights.green_percent(router_green)
