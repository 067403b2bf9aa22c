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


def read_summary_json(text: str) -> dict[str, Any]:
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("not a Surge summary: expected a JSON object")
    return data


def timeline_csv(report: Report) -> str:
    columns = [f.name for f in fields(Row)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in map(row_table, report.timeline):
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def read_timeline_csv(text: str) -> list[dict[str, Any]]:
    """Numbers come back as int or float exactly as written; an empty cell is absent."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        return []
    rows = []
    for cells in reader:
        rows.append({k: _parse(v) for k, v in zip(header, cells, strict=True) if v != ""})
    return rows


def _parse(cell: str) -> Any:
    if cell in ("true", "false"):
        return cell == "true"
    for kind in (int, float):
        try:
            return kind(cell)
        except ValueError:
            pass
    return cell
