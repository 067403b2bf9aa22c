"""A report for other tools: its summary as JSON, its timeline as CSV.

JSON carries every figure except the timeline (a table, better as CSV) and the
encoded histograms (only Surge can read them; `report merge` and `compare` use
them). Both formats read back to exactly what the report holds, so a script can
trust an export as much as the report: numbers keep their type (an int stays an
int, a float is written with Python's shortest round-tripping repr).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import fields
from typing import Any

from engine.load.model import Row
from engine.report.model import Report, row_table

# Left out of the JSON summary: the timeline goes to CSV, histograms stay Surge's.
NOT_IN_SUMMARY = frozenset({"timeline", "histograms"})


def summary_data(report: Report) -> dict[str, Any]:
    """The report's tables as written, less the timeline and the histograms."""
    return {k: v for k, v in report.table().items() if k not in NOT_IN_SUMMARY}


def summary_json(report: Report) -> str:
    """Dates (a hand-written TOML may hold real ones) become ISO strings, never an error."""
    return json.dumps(summary_data(report), indent=2, ensure_ascii=False, default=str) + "\n"


def timeline_csv(report: Report) -> str:
    """Floats in their shortest round-tripping repr: the CSV reads back to the report."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(f.name for f in fields(Row))
    for row in report.timeline:
        writer.writerow(repr(v) if isinstance(v, float) else v for v in row_table(row).values())
    return out.getvalue()
