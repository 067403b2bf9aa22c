"""The messages between the Controller and its worker processes: one type each.

Pickled over a pipe today; plain frozen data so another transport (Ray actors)
carries the same values. Intervals travel encoded (`Interval.encode`), so a
message never holds a live histogram.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.load.states import StopCause


# ---------------------------------------------------------------- Controller -> worker
@dataclass(frozen=True)
class Start:
    """Begin; commands given while the worker spawned are folded in, so none is lost."""

    paused: bool = False
    scale: float = 1.0
    ending: Stop | Abort | None = None
    lanes: tuple[Pause | Scale, ...] = ()  # one scenario's pause or scale, in their order
    setup: tuple[tuple[str, str], ...] = ()  # setup()'s captures: ("setup.NAME", value)


@dataclass(frozen=True)
class Pause:
    scenario: str | None = None  # None: every lane


@dataclass(frozen=True)
class Resume:
    scenario: str | None = None


@dataclass(frozen=True)
class Scale:
    scale: float
    scenario: str | None = None


@dataclass(frozen=True)
class Stop:
    """Graceful: no new iterations; those in flight get gracefulStop."""

    reason: StopCause


@dataclass(frozen=True)
class Abort:
    """At once: iterations in flight are interrupted."""

    reason: StopCause


@dataclass(frozen=True)
class Harvest:
    """Send the interval measured since the last one."""


Command = Start | Pause | Resume | Scale | Stop | Abort | Harvest


# ---------------------------------------------------------------- worker -> Controller
@dataclass(frozen=True)
class Ready:
    """Spawned, imported and connected: the start can be agreed."""


@dataclass(frozen=True)
class Report:
    """An interval's figures; `final` once the worker's run has ended."""

    interval: bytes
    progress: float
    cpu_percent: float
    stop_reason: StopCause | None
    final: bool = False


@dataclass(frozen=True)
class Failed:
    """The worker's run raised; a final Report with what it measured follows."""

    error: str


Event = Ready | Report | Failed
