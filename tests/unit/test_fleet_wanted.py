"""Which instances a rollout wants running, from the strategy's state alone (recipes)."""

from __future__ import annotations

import pytest

from engine.deploy.fleet import Wanted, wanted
from engine.deploy.strategies import Analysis, Canary, Linear, Manual, Rolling, Switch

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
