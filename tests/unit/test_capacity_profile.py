"""`capacity = {...}` in a profile and the plan `--type capacity` makes of it."""

from __future__ import annotations

import pytest

from engine.explore.capacity import CapacitySettings
from engine.load import executors as ex
from engine.profile import ProfileError, parse_profile
from engine.profile.plan import Overrides, build_plan

HEAD = 'name = "t"\nbase_url = "http://127.0.0.1:8080"\n'
CAPACITY = Overrides(test_type="capacity", workers=1)


def test_the_capacity_table_is_read() -> None:
    p = parse_profile(
        HEAD + 'capacity = { hold = "2s", start = 50, max = 900, precision = 0.1 }\n', "p.toml"
    )
    assert p.capacity == CapacitySettings(hold=2.0, start=50.0, max=900.0, precision=0.1)


@pytest.mark.parametrize(
    ("table", "key", "fragment"),
    [
        ('{ hold = "soon" }', "capacity.hold", "duration"),
        ("{ start = -3 }", "capacity.start", "> 0"),
        ("{ start = 100, max = 10 }", "capacity.max", "at least start"),
        ("{ precision = 2 }", "capacity.precision", "0..1"),
        ("{ precision = 0 }", "capacity.precision", "between 0 and 1"),
        ("{ steps = 3 }", "capacity.steps", "unknown key"),
        ('"fast"', "capacity", "expected a table"),
    ],
)
def test_capacity_errors_name_file_line_and_key(table: str, key: str, fragment: str) -> None:
    with pytest.raises(ProfileError) as info:
        parse_profile(HEAD + f"\ncapacity = {table}\n", "p.toml")
    assert str(info.value).startswith(f"p.toml:4: {key}: "), str(info.value)
    assert fragment in str(info.value)


def test_a_closed_model_profile_runs_open_at_the_search_start() -> None:
    p = parse_profile(HEAD + "vus = 20\ncapacity = { start = 40 }\n", "p.toml")
    plan = build_plan(p, CAPACITY)
    cfg = plan.work.only.executor
    assert cfg.open_model and cfg.executor == ex.RAMPING_ARRIVAL_RATE
    assert cfg.start_rate == 40 and cfg.peak_rate == 40  # one rate held: the driver steers it
    assert plan.capacity == CapacitySettings(start=40)
    assert cfg.planned_duration >= 3600  # the search ends the run, not the shape


def test_without_a_table_the_defaults_apply() -> None:
    plan = build_plan(parse_profile(HEAD + "rate = 30\n", "p.toml"), CAPACITY)
    assert plan.capacity == CapacitySettings()
    assert plan.work.only.executor.peak_rate == CapacitySettings().start


SCENARIOS = """
[[endpoints]]
path = "/"

[scenarios.browse]
executor = "constant-arrival-rate"
rate = 30
duration = "10s"
preAllocatedVUs = 5

[scenarios.buy]
executor = "constant-arrival-rate"
rate = 10
duration = "10s"
preAllocatedVUs = 5
"""


def test_several_scenarios_share_the_start_in_their_proportions() -> None:
    text = HEAD + "capacity = { start = 100 }\n" + SCENARIOS
    plan = build_plan(parse_profile(text, "p.toml"), CAPACITY)
    rates = {s.name: s.executor.peak_rate for s in plan.work.scenarios}
    assert rates == pytest.approx({"browse": 75.0, "buy": 25.0})
    browse, buy = plan.work.scenarios  # VU ids stay apart: the second starts past the first's
    assert buy.vu_base == browse.executor.peak_vus == browse.executor.max_vus


def test_rate_on_the_command_line_starts_the_search() -> None:
    p = parse_profile(HEAD + "capacity = { start = 40, max = 100 }\n", "p.toml")
    plan = build_plan(p, Overrides(test_type="capacity", workers=1, rate=250))
    assert plan.capacity == CapacitySettings(start=250, max=250)
    assert plan.work.only.executor.peak_rate == 250
