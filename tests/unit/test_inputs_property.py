"""Any input gives a valid result or one clear line, never a traceback or a hang.

Property tests (hypothesis) of everything a user types or a file holds: the profile
loader, the threshold grammar, the stage parser, the command line's numbers, the
executor options and the report reader.
"""

from __future__ import annotations

import argparse
import math
import string
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.durations import parse_duration
from engine.errors import ConfigError
from engine.limits import MAX_DURATION_S, MAX_RATE, MAX_VUS
from engine.load.executors import EXECUTORS, ExecutorConfig
from engine.load.stages import parse_stages
from engine.load.thresholds import parse_cli_threshold, parse_threshold
from engine.profile import ProfileError, parse_profile
from engine.profile.loader import TOP_KEYS
from engine.report.document import ReportError, read_report
from engine.report.review import read_review
from tui.cli.argtypes import duration, positive, positive_int, time_scale, workers

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Values TOML can hold, the hostile ones (nan, inf, huge, empty, nested) included.
scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["30s", "1m30s", "nan", "inf", "-1s", "0", "1e9", "http://127.0.0.1:1/"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
keys = st.one_of(st.sampled_from(TOP_KEYS), st.text(string.ascii_lowercase + "_", max_size=10))


def one_line(exc: BaseException) -> None:
    text = str(exc)
    assert text and "\n" not in text.strip(), text
    assert "Traceback" not in text


@FAST
@given(st.dictionaries(keys, values, max_size=6))
def test_any_profile_table_loads_or_is_one_profile_error(doc: dict[str, Any]) -> None:
    text = tomli_w.dumps(doc)
    try:
        profile = parse_profile(text, "fuzz.toml")
    except ProfileError as exc:
        one_line(exc)
        assert str(exc).startswith("fuzz.toml")
    else:
        assert profile.base_url.startswith(("http://", "https://"))


@FAST
@given(
    st.fixed_dictionaries(
        {"base_url": st.just("http://127.0.0.1:8080")},
        optional={
            "vus": values,
            "rate": values,
            "max_vus": values,
            "time_scale": values,
            "duration": values,
            "load": st.dictionaries(
                st.sampled_from(
                    [
                        "executor",
                        "vus",
                        "rate",
                        "duration",
                        "stages",
                        "iterations",
                        "preAllocatedVUs",
                        "maxVUs",
                        "timeUnit",
                        "gracefulStop",
                        "startRate",
                    ]
                ),
                values,
                max_size=5,
            ),
        },
    )
)
def test_numbers_in_a_profile_are_finite_and_in_range_or_refused(doc: dict[str, Any]) -> None:
    try:
        profile = parse_profile(tomli_w.dumps(doc), "fuzz.toml")
    except ProfileError as exc:
        one_line(exc)
        return
    for value in (profile.vus, profile.rate, profile.max_vus, profile.time_scale):
        assert value is None or (math.isfinite(value) and value >= 0)
    if profile.load is not None:
        cfg = profile.load
        assert cfg.peak_vus <= MAX_VUS and cfg.peak_rate <= MAX_RATE
        assert 0 <= cfg.planned_duration <= MAX_DURATION_S


@FAST
@given(st.text(max_size=40))
def test_any_profile_text_loads_or_is_one_profile_error(text: str) -> None:
    with pytest.raises(ProfileError) as info:
        parse_profile(text, "fuzz.toml")
    one_line(info.value)


@FAST
@given(st.text(max_size=30), st.text(max_size=30))
def test_any_threshold_parses_or_is_one_config_error(key: str, expression: str) -> None:
    try:
        parse_threshold(key, expression)
    except (ConfigError, ValueError) as exc:
        one_line(exc)


@FAST
@given(st.text(alphabet=string.printable, max_size=40))
def test_any_cli_threshold_parses_or_is_one_error(text: str) -> None:
    try:
        th = parse_cli_threshold(text)
    except (ConfigError, ValueError) as exc:
        one_line(exc)
    else:
        assert th.key


@FAST
@given(st.text(alphabet="0123456789.:,smhnaif- ", max_size=30))
def test_any_stage_text_parses_to_finite_stages_or_is_one_error(text: str) -> None:
    try:
        stages = parse_stages(text)
    except ValueError as exc:
        one_line(exc)
        return
    assert stages
    for s in stages:
        assert math.isfinite(s.target) and s.target >= 0
        assert 0 <= s.duration <= MAX_DURATION_S


@FAST
@given(st.one_of(st.text(max_size=20), st.floats(), st.integers()))
def test_any_duration_is_finite_bounded_or_refused(value: Any) -> None:
    try:
        seconds = parse_duration(value)
    except (ValueError, TypeError) as exc:
        one_line(exc)
    else:
        assert 0 <= seconds <= MAX_DURATION_S


@FAST
@given(
    st.one_of(
        st.text(max_size=12),
        st.sampled_from(["nan", "inf", "-inf", "1e308", "0", "-1", "1e8", "1_000"]),
    )
)
def test_the_command_line_numbers_are_finite_and_positive_or_refused(text: str) -> None:
    for parse in (positive, positive_int, duration, time_scale, workers):
        try:
            value = parse(text)
        except argparse.ArgumentTypeError as exc:
            one_line(exc)
        else:
            assert math.isfinite(value) and value > 0


@FAST
@given(
    st.sampled_from(EXECUTORS),
    st.dictionaries(
        st.sampled_from(
            [
                "vus",
                "iterations",
                "duration",
                "maxDuration",
                "startVUs",
                "stages",
                "rate",
                "timeUnit",
                "startRate",
                "preAllocatedVUs",
                "maxVUs",
                "gracefulStop",
            ]
        ),
        values,
        max_size=5,
    ),
)
def test_executor_options_validate_into_a_plan_that_starts_or_are_refused(
    executor: str, options: dict[str, Any]
) -> None:
    try:
        cfg = ExecutorConfig.from_options({"executor": executor, **options})
    except ConfigError as exc:
        one_line(exc)
        return
    assert cfg.peak_vus <= MAX_VUS and cfg.peak_rate <= MAX_RATE
    assert 0 < cfg.planned_duration <= MAX_DURATION_S
    cfg.kind.preview(cfg, 10)  # the shape is computable: nothing is nan


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.dictionaries(st.sampled_from(["meta", "summary", "timeline", "histograms", "x"]), values))
def test_any_report_reads_or_is_one_report_error(tmp_path: Path, doc: dict[str, Any]) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_text(tomli_w.dumps(doc))
    for read in (read_report, read_review):
        try:
            read(path)
        except ReportError as exc:
            one_line(exc)


@FAST
@given(st.binary(max_size=200))
def test_any_bytes_as_a_report_are_one_report_error(tmp_path_factory: Any, data: bytes) -> None:
    path = tmp_path_factory.mktemp("r") / "bytes.toml"
    path.write_bytes(data)
    with pytest.raises(ReportError) as info:
        read_report(path)
    one_line(info.value)
