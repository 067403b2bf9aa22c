"""The pure parts of `surge deploy compare`: strategies from one [deploy], the table."""

from __future__ import annotations

import pytest

from engine.deploy.compare import CompareRow, held_longer, render_table, strategy_for
from engine.deploy.strategies import Canary, Linear, Rolling, RollingWithAdditionalBatch, Switch
from engine.load.executors import ExecutorConfig
from engine.load.stages import Stage
from engine.profile.deploy import parse_deploy

RECIPE = {"command": ["app", "--port", "{port}"], "instances": 3}
TABLE = {
    "blue": RECIPE,
    "green": RECIPE,
    "strategy": "canary",
    "steps": [20, 100],
    "interval": "2s",
    "min_requests": 7,
}


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("rolling", Rolling),
        ("rolling-with-additional-batch", RollingWithAdditionalBatch),
        ("bluegreen", Switch),
        ("switch", Switch),
        ("canary", Canary),
        ("linear", Linear),
    ],
)
def test_every_strategy_is_judged_on_the_profiles_analysis(name: str, cls: type) -> None:
    strategy = strategy_for(parse_deploy(TABLE), name)
    assert type(strategy) is cls
    analysis = getattr(strategy, "smoke" if cls is Switch else "analysis")
    assert analysis is not None and (analysis.interval, analysis.min_requests) == (2.0, 7)


def test_the_profiles_own_strategy_keeps_its_configuration() -> None:
    canary = strategy_for(parse_deploy(TABLE), "canary")
    assert isinstance(canary, Canary) and list(canary.steps) == [20, 100]
    rolling = strategy_for(parse_deploy(TABLE), "rolling")
    assert isinstance(rolling, Rolling) and rolling.instances == 3


def test_an_unknown_strategy_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown strategy 'bogus'"):
        strategy_for(parse_deploy(TABLE), "bogus")


def test_the_table_has_a_row_per_strategy_with_its_figures() -> None:
    rows = [
        CompareRow("rolling", "promoted", 12.34, 4, 2, 900, 1000, 5, 8.25),
        CompareRow("canary", "unfinished", None, 4, 3, 10, 200, 0, 1.0),
    ]
    lines = render_table(rows, width=200)
    assert lines[0].startswith("| strategy") and set(lines[1]) <= {"|", "-", ":"}
    assert "| rolling  | promoted   | 12.3 s |            4/2 |" in lines[2]
    assert "5 (0.5%)" in lines[2] and "8.2 ms" in lines[2]
    assert "| canary   | unfinished |      – |" in lines[3]
    assert len({len(line) for line in lines}) == 1  # aligned columns


def test_the_table_fits_80_columns_going_on_below() -> None:
    """Every strategy's name is long enough that the nine figures cannot share 80
    columns: the ones that do not fit go on in a second table, the strategy first."""
    rows = [
        CompareRow("rolling-with-additional-batch", "rolled back", 12.1, 4, 2, 400, 2299, 40, 17.3),
        CompareRow("bluegreen", "promoted", 6.0, 6, 3, 195, 1099, 0, 14.7),
    ]
    lines = render_table(rows)
    assert max(len(line) for line in lines) <= 80
    first, second = "\n".join(lines).split("\n\n")
    assert first.startswith("| strategy ") and second.startswith("| strategy ")
    for figure in ("12.1 s", "4/2", "400", "2,299", "40 (1.7%)", "17.3 ms"):
        assert figure in first + second


def test_the_load_holds_its_peak_longer_for_a_rollout_that_outlasts_it() -> None:
    staged = ExecutorConfig(
        executor="ramping-arrival-rate", stages=(Stage(3, 200), Stage(18, 200), Stage(3, 0))
    )
    held = held_longer(staged, 60)
    assert held.stages == (Stage(3, 200), Stage(60, 200), Stage(18, 200), Stage(3, 0))
    assert held.planned_duration == staged.planned_duration + 60
    assert held_longer(ExecutorConfig(duration=10), 5).duration == 15
    counted = ExecutorConfig(executor="shared-iterations", iterations=100)
    assert held_longer(counted, 5) == counted  # a count is not stretched
