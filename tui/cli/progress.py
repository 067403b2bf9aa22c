"""Where `surge run`'s live progress line goes, and how it is written there.

On a terminal, one line rewritten in place (`\\r`), fitted to that terminal's width:
the width of stderr, where the line goes, not of stdout (`surge run URL | tee log`
on a 60-column terminal must not wrap, or the line piles up). Anywhere else (a pipe,
a file, a CI log), `\\r` would pile up too: a plain line at the first interval, then
one every PIPE_EVERY_S seconds.
"""

from __future__ import annotations

import os
from typing import TextIO

from engine.load.run import Snapshot
from engine.report.summary import progress_line

PIPE_EVERY_S = 10.0  # a line this often into a pipe or file
PIPE_WIDTH = 120  # a log's line: the whole line, without the least needed parts past this


def columns(stream: TextIO) -> int:
    """The width of the terminal `stream` writes to ($COLUMNS first, as shutil reads it)."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError):
        return 80


class Progress:
    """The text to write to `stream` for each snapshot ("" when nothing is due)."""

    def __init__(self, stream: TextIO, every: float = PIPE_EVERY_S) -> None:
        try:
            self.terminal = stream.isatty()
        except ValueError:  # a closed stream
            self.terminal = False
        self.stream = stream
        self.every = every
        self.next_at = 0.0

    def text(self, s: Snapshot) -> str:
        if self.terminal:
            return "\r\x1b[2K" + progress_line(s, columns(self.stream))
        if s.elapsed < self.next_at:
            return ""
        self.next_at = s.elapsed + self.every
        return progress_line(s, PIPE_WIDTH) + "\n"

    def end(self) -> str:
        """What ends the progress output: the line rewritten in place is left as it is."""
        return "\n" if self.terminal else ""
