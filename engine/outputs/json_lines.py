"""`--out json=FILE`: one JSON object per line, one per interval, then the summary.

Not k6's one line per request and metric (`--out json` in k6 writes every sample,
which is what makes it slow and its files huge): an interval's figures are what a
dashboard or a script plots. Schema (README, "Outputs"):
`{"type": "interval", "t", "dt", "requests", "failed", "rps", "error_rate", "p50",
"p90", "p95", "p99", "duration_p50", "duration_p99", "vus", "vus_max", "target",
"iterations", "dropped", "bytes_in", "bytes_out"}` (the report's timeline row, latency
in ms), and last `{"type": "summary", ...}` (the report without its timeline and
histograms, as `--json` prints it). A line is written one interval late: the run's
last, short interval is folded into the one before it, as in the report's timeline,
so the lines are that timeline row for row.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

from engine.errors import ConfigError
from engine.load.model import Row, RunModel
from engine.load.run import Snapshot
from engine.outputs.base import Output
from engine.report.export import summary_data
from engine.report.model import Report


class JsonLinesOutput(Output):
    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self._file: IO[str] | None = None
        self._pending: Row | None = None

    def start(self) -> None:
        try:
            self._file = self.path.open("w", encoding="utf-8")
        except OSError as exc:
            raise ConfigError("--out", f"json={self.path}: {exc.strerror or exc}") from None

    def _write(self, obj: Mapping[str, Any]) -> None:
        if self._file is not None:
            self._file.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
            self._file.flush()  # a crash keeps every interval written so far

    def interval(self, snapshot: Snapshot, model: RunModel) -> None:
        row, pending = snapshot.row, self._pending
        if pending is not None and not _replaces(row, pending):
            self._write({"type": "interval", **asdict(pending)})
        self._pending = row

    def finish(self, report: Report) -> None:
        if self._pending is not None:
            self._write({"type": "interval", **asdict(self._pending)})
            self._pending = None
        self._write({"type": "summary", **summary_data(report)})

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _replaces(row: Row, pending: Row) -> bool:
    """The same interval again (the run's end announced), or it joined with the last one."""
    return abs((row.t - row.dt) - (pending.t - pending.dt)) < 1e-9
