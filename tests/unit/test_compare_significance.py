"""`surge report compare`: each latency and error figure significant or not, from the
reports' histograms; `--significant` counts only significant regressions; `--json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.exit_codes import EXIT_OK, EXIT_REGRESSION
from engine.load.metrics import encode_histogram, new_histogram
from engine.report.compare import NO_HISTOGRAMS, compare, significance_lines
from engine.report.document import write_toml
from engine.report.model import Report, parse_report
from tui.cli.main import main as cli_main


def report(values_ms: dict[float, int], failed: int = 0, histograms: bool = True) -> Report:
    """A report whose latency is `values_ms` (value -> how many), as a run writes it."""
    h = new_histogram()
    for ms, n in values_ms.items():
        h.record_value(round(ms * 1000), n)
    requests = sum(values_ms.values())
    p95 = h.get_value_at_percentile(95) / 1000
    p99 = h.get_value_at_percentile(99) / 1000
    figures = {
        "requests": requests,
        "failed": failed,
        "error_rate": failed / requests,
        "rps": 100.0,
        "latency_ms": {"p95": p95, "p99": p99},
    }
    data: dict[str, Any] = {"meta": {"executor": "constant-vus"}, "summary": figures}
    if histograms:
        data["histograms"] = {"total": {"latency": encode_histogram(h)}}
    return parse_report(data)


BASE = report({10: 475, 20: 25})
TAIL_NOISE = report({10: 470, 20: 30})  # p95 10 -> 20 ms: 5 requests of 500 moved
SLOWER = report({13: 475, 26: 25}, failed=25)  # all 30% slower, 5% errors


def row(result: Any, figure: str) -> Any:
    return next(r for r in result.rows if r.section == "total" and r.figure == figure)


def test_a_tail_moved_by_five_requests_is_a_regression_with_or_without_significant() -> None:
    plain = compare(BASE, TAIL_NOISE)
    assert plain.regressed and row(plain, "latency p95").regression
    assert plain.significance(row(plain, "latency p95")) is None  # a location test: no tail's
    only = compare(BASE, TAIL_NOISE, only_significant=True)
    assert only.regressed and row(only, "latency p95").note != "not significant"
    assert "error rate: significant at 0.99 only" in only.verdict


def test_a_p99_only_regression_still_counts_with_significant() -> None:
    """The rank test reads a tail-only change as noise; the tail row keeps its rule."""
    base, new = report({10: 2960, 50: 40}), report({10: 2960, 100: 40})  # p99 50 -> 100 ms
    result = compare(base, new, only_significant=True)
    assert result.tests is not None and result.tests["total"].latency_p is not None
    assert result.tests["total"].latency_p >= 0.01  # "not significant" to Mann-Whitney U
    assert not row(result, "latency p95").regression and row(result, "latency p99").regression
    assert [(r.section, r.figure) for r in result.regressions] == [("total", "latency p99")]


def test_a_whole_shift_and_more_errors_are_significant_regressions() -> None:
    result = compare(BASE, SLOWER, only_significant=True)
    assert row(result, "latency p95").regression and row(result, "error rate").regression
    errors = result.significance(row(result, "error rate"))
    assert errors is not None and errors.test == "two-proportion-z" and errors.significant
    lines = significance_lines(result)
    assert lines[1].startswith("  total: latency significant (p ")
    assert ", errors significant (p " in lines[1]


def test_without_histograms_significance_is_not_judged_and_counts_as_before() -> None:
    bare = report({10: 470, 20: 30}, histograms=False)
    result = compare(BASE, bare, only_significant=True)
    assert significance_lines(result) == [NO_HISTOGRAMS]
    assert result.regressed  # nothing to judge significance by: the tolerance rules


def test_the_cli_json_and_fail_on_regression_significant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, noise = write_toml(BASE, tmp_path / "b.toml"), write_toml(TAIL_NOISE, tmp_path / "n.toml")
    args = ["report", "compare", str(base), str(noise), "--fail-on-regression"]
    assert cli_main(args) == EXIT_REGRESSION
    assert "total: latency not significant (p " in capsys.readouterr().out
    assert cli_main([*args, "--significant"]) == EXIT_REGRESSION  # the tail keeps its rule
    capsys.readouterr()
    assert cli_main([*args, "--significant", "--json"]) == EXIT_REGRESSION
    data = json.loads(capsys.readouterr().out)
    p95 = next(r for r in data["rows"] if r["section"] == "total" and r["figure"] == "latency p95")
    assert p95["regression"] is True and "significance" not in p95
    assert data["regressed"] is True and data["only_significant"] is True
    calm = write_toml(report({10: 475, 20: 25}, failed=1), tmp_path / "c.toml")
    more = write_toml(report({10: 475, 20: 25}, failed=3), tmp_path / "e.toml")
    errors = ["report", "compare", str(calm), str(more), "--fail-on-regression"]
    assert cli_main(errors) == EXIT_REGRESSION  # 0.2% -> 0.6% errors: over the tolerance
    assert cli_main([*errors, "--significant"]) == EXIT_OK  # ... but 3 vs 1 is noise
    capsys.readouterr()
    with pytest.raises(SystemExit):
        cli_main(["report", "compare", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "an error-rate regression counts only when significant" in shown
    assert "p95/p99 latency and rps stay judged by the tolerance" in shown
