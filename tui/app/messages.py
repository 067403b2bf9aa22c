"""Messages between the engine worker and the screens.

The engine runs in a Textual worker and talks to the UI only through these, so
the UI never waits on the engine and the engine never touches a widget.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from textual.message import Message

from engine.load.model import Row
from engine.load.run import RunResult, Snapshot
from tui.app.session import RunSetup


@dataclass
class SnapshotReceived(Message):
    """One interval of a live run, with what the plots need to redraw from scratch.

    Snapshots carry cumulative totals and the whole (bounded) timeline, so when
    the UI falls behind a newer one may replace an unhandled older one without
    losing anything: a flood collapses to the latest.
    """

    snapshot: Snapshot
    timeline: Sequence[Row] = ()
    lanes: Mapping[str, Sequence[Row]] = field(default_factory=dict)  # by scenario (several)

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SnapshotReceived)


@dataclass
class RunFinished(Message):
    """The controller returned: the run is over (done, stopped, aborted or broken)."""

    result: RunResult


@dataclass
class RunCrashed(Message):
    """The engine worker raised instead of returning: shown as a modal, not a traceback."""

    error: str


@dataclass
class RunRequested(Message):
    """The picker (or the command line) has a valid plan: open the run screen."""

    setup: RunSetup
    autostart: bool = True
    deploy: bool = True  # False: the profile's proxy admin API did not answer, no panel
