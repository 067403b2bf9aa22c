"""The headline figures of a run against a base run: rate, p95, p99, error rate, and a verdict.

`surge report compare`'s judgement (engine.report.compare) cut to what fits beside the
plots: the gated figures of the whole run, each with its change and direction in
words as well as colour (NO_COLOR still reads "worse"), then how many figures
regressed (steps and upstreams included) and any warning, a line each.
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from engine.report.compare import Comparison, Row, format_change, format_tolerance, format_value

HEADLINE = ("rps", "latency p95", "latency p99", "error rate")
_STYLES = {"better": "green", "worse": "bold red", "changed": "yellow", "same": "dim"}


def headline_rows(comparison: Comparison) -> list[Row]:
    by_name = {r.figure: r for r in comparison.rows if r.section == "total"}
    return [by_name[name] for name in HEADLINE if name in by_name]


def comparison_table(comparison: Comparison) -> Table:
    table = Table(box=None, padding=(0, 1), expand=True, show_edge=False)
    table.add_column("", no_wrap=True, style="bold")
    table.add_column("base", justify="right", no_wrap=True)
    table.add_column("this", justify="right", no_wrap=True)
    table.add_column("change", justify="right", no_wrap=True)
    table.add_column("", no_wrap=True)
    for row in headline_rows(comparison):
        mark = "worse ✗" if row.regression else row.direction
        table.add_row(
            row.figure.removeprefix("latency "),
            format_value(row.base, row.unit),
            format_value(row.new, row.unit),
            format_change(row) if row.new != row.base else "",
            Text(mark if row.direction != "same" else "", style=_STYLES[row.direction]),
        )
    return table


def verdict_lines(comparison: Comparison) -> list[Text]:
    """One line each, cut to the panel's width: `surge report compare` has the long form."""
    tol = format_tolerance(comparison.tolerance)
    regressions = comparison.regressions
    if regressions:
        many = f"{len(regressions)} figures" if len(regressions) > 1 else regressions[0].label
        verdict = Text(f"✗ regression beyond {tol}: {many}", style="bold red")
    else:
        verdict = Text(f"✓ no regression beyond {tol}", style="green")
    warnings = [Text(f"! {w}", style="yellow") for w in comparison.warnings]
    for line in (verdict, *warnings):
        line.no_wrap, line.overflow = True, "ellipsis"
    return [verdict, *warnings]


class ComparisonPanel(Static):
    """Hidden until a base run is chosen; a Static, as it changes only when one is."""

    def on_mount(self) -> None:
        self.display = False

    def show(self, comparison: Comparison, base_name: str) -> None:
        self.border_title = f"against base {base_name}"
        self.update(Group(comparison_table(comparison), *verdict_lines(comparison)))
        self.display = True
