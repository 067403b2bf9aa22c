"""engine.report.review: a saved report reads back as the summary its run ended with."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import math
import re
import tomllib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from engine.load.controller import Controller
from engine.load.thresholds import parse_cli_threshold
from engine.profile import adhoc_profile
from engine.profile.plan import Overrides, build_plan
from engine.report.compare import compare
from engine.report.document import ReportError, build_report, read_report, write_toml
from engine.report.review import read_review, review_report, review_result
from engine.report.summary import render_report
from tests.report_fixtures import BASE, NEW, fixtures

THRESHOLDS = (
    "http_req_duration:p(95)<1000",
    "http_req_failed:rate<0.01",
    "http_reqs:count<1",  # fails: the verdicts read back must not all be ✓
)


async def test_a_saved_report_reopens_with_the_figures_its_run_ended_with(
    shared_sut: str, tmp_path: Path
) -> None:
    """2 s of real load against `surge sut`, saved, read back: the summary's figures."""
    plan = build_plan(
        adhoc_profile(shared_sut + "/"),
        Overrides(
            vus=2, duration=2.0, thresholds=tuple(parse_cli_threshold(t) for t in THRESHOLDS)
        ),
        interval=0.5,
    )
    result = await asyncio.wait_for(Controller(plan).run(), 30)
    ran = review_result(result)
    opened = read_review(write_toml(build_report(result), tmp_path / "run.toml"))

    assert opened.totals.requests == ran.totals.requests > 50
    for stat in ("min", "p50", "p90", "p95", "p99", "p99_9", "max"):
        assert getattr(opened.totals.latency, stat) == getattr(ran.totals.latency, stat), stat
        assert getattr(opened.totals.duration, stat) == getattr(ran.totals.duration, stat)
        assert getattr(opened.totals.expected, stat) == getattr(ran.totals.expected, stat)
    assert opened.totals.latency.mean == pytest.approx(ran.totals.latency.mean, abs=1e-3)
    assert opened.totals.error_rate == ran.totals.error_rate
    assert opened.totals.status == ran.totals.status
    assert opened.totals.rps == pytest.approx(ran.totals.rps, abs=1e-3)

    def verdicts(review: Any) -> list[tuple[str, str, bool]]:
        return [(s.threshold.key, s.threshold.expression, s.ok) for s in review.thresholds]

    assert verdicts(opened) == verdicts(ran)
    assert [s.ok for s in opened.thresholds] == [True, True, False]
    for a, b in zip(opened.thresholds, ran.thresholds, strict=True):
        assert a.observed == pytest.approx(b.observed, abs=1e-6)

    assert len(opened.timeline) == len(ran.timeline) >= 4
    for a, b in zip(opened.timeline, ran.timeline, strict=True):
        assert (a.requests, a.failed, a.vus) == (b.requests, b.failed, b.vus)
        assert (a.t, a.p95, a.rps) == pytest.approx((b.t, b.p95, b.rps), abs=1e-3)
    assert opened.length == pytest.approx(ran.length, abs=1e-3)
    assert (opened.name, opened.type_label, opened.open_model) == (
        ran.name,
        ran.type_label,
        ran.open_model,
    )
    assert (opened.exit_code, ran.exit_code) == (None, 99)  # a report keeps no exit code
    assert opened.report.summary == ran.report.summary


def test_the_fixture_reports_are_what_the_generator_makes() -> None:
    """If this fails after an intended change of the report: python -m tests.report_fixtures."""
    for path, data in fixtures().items():
        saved = tomllib.loads(path.read_text(encoding="utf-8"))
        made = tomllib.loads(tomli_w.dumps(data.table()))
        for report in (saved, made):
            report["meta"].pop("version")
        assert saved == made, path


def test_an_open_model_report_reads_back_open_with_its_thresholds() -> None:
    review = read_review(NEW)
    assert review.open_model and review.type_label == "average" and review.name == "shop"
    assert [(s.threshold.expression, s.ok) for s in review.thresholds] == [
        ("p(95)<6", False),
        ("rate<0.05", True),
    ]
    assert review.source == NEW and review.exit_code is None


def test_a_report_without_histograms_shows_its_tables_figures() -> None:
    data = replace(read_report(BASE), histograms=None)
    review = review_report(data)
    assert review.totals.latency.p95 == data.summary.latency.p95
    assert review.totals.requests == data.summary.requests


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "no such file"),
        ("this is = = not toml", "damaged TOML"),
        ("[meta]\nformat = 4\n[summary]\nrequests = 1\n", "report format 4 is not supported"),
        (
            "[meta]\nformat = 1\n[summary]\nrequests = 1\n[histograms.total]\nlatency = 'xx'\n",
            "damaged histogram",
        ),
        (
            "[meta]\nformat = 1\n[summary]\nrequests = 1\n[[thresholds]]\nmetric = 'nope'\n"
            "expression = 'p(95)<1'\n",
            "thresholds[0]",
        ),
    ],
)
def test_a_bad_report_is_one_report_error(tmp_path: Path, text: str | None, message: str) -> None:
    path = tmp_path / "bad.toml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ReportError, match=re.escape(message)):
        read_review(path)


def test_a_folder_is_a_report_error_not_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="cannot read"):
        read_review(tmp_path)


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(value, list) and value:
        yield from _leaves(value[0], (*path, 0))
    else:
        yield path


@pytest.mark.parametrize("wrong", ["text", math.inf, {"a": 1}])
def test_any_field_of_a_wrong_type_is_a_review_or_a_report_error(
    tmp_path: Path, wrong: Any
) -> None:
    """Hand-edited reports: every leaf of a real one replaced in turn, never a traceback
    on the way to the summary screen (a string, a number too big to count, a table)."""
    original = tomllib.loads(BASE.read_text(encoding="utf-8"))
    path = tmp_path / "edited.toml"
    for leaf in _leaves(original):
        data = copy.deepcopy(original)
        table = data
        for key in leaf[:-1]:
            table = table[key]
        table[leaf[-1]] = wrong
        path.write_text(tomli_w.dumps(data), encoding="utf-8")
        with contextlib.suppress(ReportError):
            review = read_review(path)
            render_report(review.report)  # what the summary screen shows of it
            compare(review.report, review.report)
