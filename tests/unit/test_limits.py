"""Every number is finite and in its documented range before anything starts.

The issue's table, row by row: each of these once hung, ate memory or ran "for nan
seconds"; now each is exit 2 and one line, before a single request.
"""

from __future__ import annotations

import pytest

from engine.errors import ConfigError
from engine.limits import check_number, fd_shortfall
from engine.load.executors import ExecutorConfig
from tui.cli.main import main

DEAD = "http://127.0.0.1:9/"  # nothing is sent: every case fails before the run


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--rate", "1e8"], "rate: at most 10,000,000, got 100,000,000"),
        (["--vus", "1000000000"], "vus: at most 100,000"),
        (["--stages", "1s:1000000000"], "stages[0].target: at most 100,000"),
        (["--rate", "inf"], "must be a finite number > 0, got inf"),
        (["--rate", "nan"], "must be a finite number > 0, got nan"),
        (["--duration", "nan"], "not a duration: 'nan' (must be finite)"),
        (["--duration", "inf"], "not a duration: 'inf' (must be finite)"),
        (["--stages", "nan:5"], "not a duration: 'nan' (must be finite)"),
        (["--stages", "1s:nan"], "stage target must be a finite number >= 0"),
        (["--duration", "0"], "must be longer than 0s, got '0'"),
        (["--stages", ""], "no stages given"),
        (["--time-scale", "0"], "must be a finite number > 0, got 0"),
        (["--time-scale", "-1"], "must be a finite number > 0, got -1"),
        (["--time-scale", "5000"], "at most 1000"),
        (["--workers", "100000"], "at most 256"),
        (["--duration", "400d"], "duration too long: '400d' (at most 31d)"),
        (["--iterations", "10000000000000"], "iterations: at most 1,000,000,000,000"),
    ],
)
def test_out_of_range_numbers_are_exit_2_and_one_line(
    capsys: pytest.CaptureFixture[str], flags: list[str], says: str
) -> None:
    try:
        code = main(["run", DEAD, *flags])
    except SystemExit as exc:  # refused by the flag's type, in argparse
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert says in err
    assert "Traceback" not in err
    assert err.splitlines()[0].count(says) == 1  # the first line says it all


@pytest.mark.parametrize(
    ("value", "limit", "why"),
    [
        (float("nan"), 10.0, "must be a finite number, got nan"),
        (float("inf"), 10.0, "must be a finite number, got inf"),
        (-1.0, 10.0, "must not be negative, got -1"),
        (11.0, 10.0, "at most 10, got 11"),
        (10.0, 10.0, None),
        (0.5, 10.0, None),
    ],
)
def test_check_number(value: float, limit: float, why: str | None) -> None:
    assert check_number(value, limit) == why


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"executor": "constant-vus", "vus": 10**9, "duration": "1s"}, "vus"),
        (
            {
                "executor": "constant-arrival-rate",
                "rate": 1e9,
                "duration": "1s",
                "preAllocatedVUs": 1,
            },
            "rate",
        ),
        (
            {"executor": "ramping-vus", "stages": [{"duration": "1s", "target": 10**7}]},
            "stages[0].target",
        ),
        (
            {
                "executor": "ramping-arrival-rate",
                "preAllocatedVUs": 1,
                "stages": [{"duration": "1s", "target": 2e7}],
            },
            "stages[0].target",
        ),
    ],
)
def test_profile_executor_options_out_of_range_name_the_option(
    options: dict[str, object], key: str
) -> None:
    with pytest.raises(ConfigError) as info:
        ExecutorConfig.from_options(options)
    assert info.value.key == key


def test_more_vus_than_open_files_is_refused_naming_the_fix() -> None:
    why = fd_shortfall(10**9)
    assert why is not None and "ulimit -n" in why
    assert fd_shortfall(10) is None
