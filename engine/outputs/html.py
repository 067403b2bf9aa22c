"""`--out html=FILE`: the run's report as one self-contained HTML page (engine.report.html).

Written once, at the end, from the same typed Report the TOML report gets: a run
stopped by Ctrl+C or SIGTERM still ends with a report, so it gets its page too. The
file is checked before the run starts, so a bad path fails it at once, not after it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from engine.errors import ConfigError
from engine.load.model import RunModel
from engine.load.run import Snapshot
from engine.outputs.base import Output
from engine.report.document import unwritable
from engine.report.model import Report


def html_unwritable(path: Path) -> str | None:
    """Why the page cannot be written at `path` (checked before anything runs), or None."""
    if path.is_dir():
        return "is a folder (give a file name, e.g. reports/run.html)"
    return unwritable(path)


class HtmlOutput(Output):
    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def start(self) -> None:
        if why := html_unwritable(self.path):
            raise ConfigError("--out", f"html={self.path}: {why}")

    def interval(self, snapshot: Snapshot, model: RunModel) -> None:
        """The page is drawn from the final report alone."""

    def finish(self, report: Report) -> None:
        from engine.report.html import write_html  # the page's assets load only when used

        try:
            write_html(report, self.path)
        except OSError as exc:  # the run and its TOML report stand; say what was lost
            why = exc.strerror or exc
            print(f"  surge run: warning: --out html={self.path}: {why}", file=sys.stderr)

    def close(self) -> None:
        """Nothing stays open: the page is written in one go."""
