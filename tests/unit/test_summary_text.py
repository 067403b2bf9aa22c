"""The words and lines of the text summary: pure functions, table-tested."""

from __future__ import annotations

import pytest

from engine.load.metrics import decode_histogram, encode_histogram, new_histogram
from engine.load.model import Figures, LatencyStats, Row
from engine.load.run import Snapshot
from engine.load.states import RunState
from engine.report.summary import failure_banner, progress_line, recorded_values


@pytest.mark.parametrize(
    ("requests", "failed", "errors", "expected"),
    [
        (
            212_988,
            212_988,
            {"connection refused": 212_988},
            "all 212,988 requests failed: connection refused at 127.0.0.1:1",
        ),
        (
            100,
            60,
            {"http 5xx": 50, "timeout": 10},
            "60% of 100 requests failed: http 5xx (50), timeout (10) at 127.0.0.1:1",
        ),
        (100, 49, {"http 5xx": 49}, None),  # most passed: nothing to shout about
        (0, 0, {}, None),
    ],
)
def test_failure_banner(requests: int, failed: int, errors: dict, expected: str | None) -> None:
    assert failure_banner(requests, failed, errors, "http://127.0.0.1:1/") == expected


def _snapshot(state: RunState, bad_thresholds: int = 0) -> Snapshot:
    row = Row(**{f: 0 for f in Row.__dataclass_fields__} | {"t": 3.0, "dt": 1.0, "rps": 41234.5})
    totals = Figures(0, 0, 0.0, 0.0, *(LatencyStats(),) * 3, {}, {}, 0, 0)
    return Snapshot(
        elapsed=3.0,
        state=state,
        progress=0.3,
        row=row,
        totals=totals,
        thresholds=(),
        checks={},
        scale=1.0,
        cpu_percent=87.0,
        worker_cpu=(87.0,),
        failures=(),
        stop_reason=None,
    )


@pytest.mark.parametrize("width", [40, 80, 160])
def test_the_progress_line_never_wraps(width: int) -> None:
    """A wrapped line cannot be rewritten in place with \\r: it piles up."""
    line = progress_line(_snapshot(RunState.RUNNING), width)
    assert len(line) <= width - 1
    assert "req/s" in line
    assert ("cpu" in line) is (width >= 160)


def test_the_finished_line_has_no_cpu_of_gone_workers() -> None:
    assert "cpu" not in progress_line(_snapshot(RunState.FINISHED), 200)


@pytest.mark.parametrize("values", [[1], [5, 5, 5], [1, 10, 100, 1_000, 10_000, 3_600_000_000]])
def test_the_histogram_s_buckets_are_those_hdrh_s_iterator_walks(values: list[int]) -> None:
    """recorded_values reads the counts array at once; it must give what the (slow)
    recorded iterator gives, fresh and after an encode/decode as in a saved report."""
    h = new_histogram()
    for i, v in enumerate(values):
        h.record_value(v, i + 1)
    for hist in (h, decode_histogram(encode_histogram(h))):
        walked = [
            (item.value_iterated_to, item.count_at_value_iterated_to)
            for item in hist.get_recorded_iterator()
        ]
        assert recorded_values(hist) == walked
