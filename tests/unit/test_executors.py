"""Executor options as k6 names them, test-type shapes and run planning: table tests."""

from __future__ import annotations

import pytest

from engine.errors import ConfigError
from engine.load import executors as ex
from engine.load.executors import ExecutorConfig
from engine.load.stages import Stage
from engine.load.testtypes import TEST_TYPES, executor_for, preview, resolve
from engine.profile import adhoc_profile
from engine.profile.plan import Overrides, choose_executor


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"executor": "shared-iterations"}, {"vus": 1, "iterations": 1, "max_duration": 600}),
        (
            {"executor": "per-vu-iterations", "vus": 10, "iterations": 20, "maxDuration": "1h"},
            {"vus": 10, "iterations": 20, "max_duration": 3600},
        ),
        ({"executor": "constant-vus", "duration": "30s"}, {"vus": 1, "duration": 30}),
        (
            {"executor": "ramping-vus", "stages": [{"duration": "10s", "target": 5}]},
            {"start_vus": 1, "graceful_ramp_down": 30, "graceful_stop": 30},
        ),
        (
            {
                "executor": "constant-arrival-rate",
                "rate": 30,
                "timeUnit": "1m",
                "duration": "5m",
                "preAllocatedVUs": 4,
            },
            {"rate": 30, "time_unit": 60, "duration": 300, "max_vus": 4},
        ),
        (
            {
                "executor": "ramping-arrival-rate",
                "startRate": 5,
                "preAllocatedVUs": 2,
                "maxVUs": 50,
                "stages": [{"duration": "1m", "target": 100}],
                "gracefulStop": "5s",
            },
            {"start_rate": 5, "max_vus": 50, "graceful_stop": 5},
        ),
        (
            {"executor": "constant-vus", "vus": 3, "duration": 2, "graceful_stop": "1s"},
            {"vus": 3, "graceful_stop": 1},
        ),
    ],
)
def test_k6_options_and_defaults(options: dict, expected: dict) -> None:
    cfg = ExecutorConfig.from_options(options)
    for field, value in expected.items():
        assert getattr(cfg, field) == value, field
    # What a report records reads back as the same configuration.
    assert ExecutorConfig.from_options(cfg.options()) == cfg


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"executor": "warp-speed"}, "executor"),
        ({"executor": "constant-vus"}, "duration"),
        ({"executor": "constant-vus", "duration": "1m", "rate": 5}, "rate"),
        ({"executor": "constant-arrival-rate", "rate": 5, "duration": "1m"}, "preAllocatedVUs"),
        ({"executor": "ramping-vus", "stages": []}, "stages"),
        ({"executor": "ramping-vus", "stages": [{"duration": "1s"}]}, "stages[0]"),
        ({"executor": "shared-iterations", "vus": 5, "iterations": 2}, "iterations"),
        ({"executor": "constant-vus", "duration": "soon"}, "duration"),
        ({"executor": "constant-vus", "duration": "1m", "vus": -1}, "vus"),
        (
            {
                "executor": "constant-arrival-rate",
                "rate": 5,
                "duration": "1m",
                "preAllocatedVUs": 5,
                "maxVUs": 2,
            },
            "maxVUs",
        ),
    ],
)
def test_bad_options_name_the_option(options: dict, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        ExecutorConfig.from_options(options)
    assert err.value.key == key


def test_every_test_type_has_a_shape_in_both_models() -> None:
    for name in TEST_TYPES:
        closed = executor_for(name, vus=20, rate=None, time_scale=0.01)
        opened = executor_for(name, vus=None, rate=200, time_scale=0.01)
        closed.validate()
        opened.validate()
        assert preview(closed)[-1][0] == pytest.approx(closed.planned_duration)
    assert resolve("average-load").name == "average"
    with pytest.raises(ValueError, match="unknown test type"):
        resolve("chaos")


@pytest.mark.parametrize(
    ("name", "peak_vus", "peak_rate", "nominal_s"),
    [
        ("smoke", 3, 0, 60),
        ("average", 20, 200, 2400),
        ("stress", 35, 350, 2700),
        ("spike", 160, 1600, 180),
        ("soak", 20, 200, 29400),
    ],
)
def test_shapes_scale_the_expected_load(name, peak_vus, peak_rate, nominal_s) -> None:
    closed = executor_for(name, vus=20, rate=None, time_scale=1.0)
    assert closed.peak_vus == peak_vus
    assert closed.planned_duration == nominal_s
    if peak_rate:
        opened = executor_for(name, vus=None, rate=200, time_scale=1.0)
        assert opened.executor == ex.RAMPING_ARRIVAL_RATE
        assert opened.peak_rate == peak_rate


def test_breakpoint_is_always_open_model_and_ramps_to_ten_times() -> None:
    cfg = executor_for("breakpoint", vus=10, rate=None, time_scale=0.01)
    assert cfg.executor == ex.RAMPING_ARRIVAL_RATE
    assert cfg.peak_rate == 1000
    assert cfg.start_rate == 10


URL = "http://127.0.0.1:9/"


@pytest.mark.parametrize(
    ("overrides", "executor", "check"),
    [
        (Overrides(), ex.CONSTANT_VUS, lambda c: c.vus == 10 and c.duration == 10),
        (Overrides(iterations=7), ex.SHARED_ITERATIONS, lambda c: c.iterations == 7),
        (
            Overrides(rate=50.0, duration=5.0),
            ex.CONSTANT_ARRIVAL_RATE,
            lambda c: c.rate == 50 and c.max_vus >= c.pre_allocated_vus,
        ),
        (Overrides(stages=(Stage(5, 10),)), ex.RAMPING_VUS, lambda c: c.peak_vus == 10),
        (
            Overrides(stages=(Stage(5, 100),), rate=1.0),
            ex.RAMPING_ARRIVAL_RATE,
            lambda c: c.peak_rate == 100,
        ),
        (Overrides(test_type="spike", vus=5), ex.RAMPING_VUS, lambda c: c.peak_vus == 40),
        (
            Overrides(executor="per-vu-iterations", vus=3, iterations=4),
            ex.PER_VU_ITERATIONS,
            lambda c: c.vus == 3 and c.iterations == 4,
        ),
    ],
)
def test_flags_choose_the_executor_like_k6(overrides, executor, check) -> None:
    cfg = choose_executor(adhoc_profile(URL), overrides)
    assert cfg.executor == executor
    assert check(cfg)


def test_flags_that_do_not_fit_are_errors() -> None:
    with pytest.raises(ConfigError, match="--max-vus"):
        choose_executor(adhoc_profile(URL), Overrides(vus=2, max_vus=5))
    with pytest.raises(ConfigError, match="needs a rate"):
        choose_executor(adhoc_profile(URL), Overrides(executor="constant-arrival-rate"))
