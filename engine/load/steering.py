"""Steering by hand on record: pause, resume, a new target, a stop, as typed events.

The controller records each command it is given (whatever front end gave it), so a
run steered by hand says so in its report (`[[meta.steering]]`), its summary, its
plots and any comparison made against it: a run held at 50 iters/s for half its
length is not the run its shape describes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from engine.durations import clock
from engine.load.states import StopReason

# Stops a person gave (a key, Ctrl+C, quitting the console): signals, thresholds,
# breaking points and the end of a rollout are not steering.
BY_HAND = frozenset(
    {
        StopReason.USER_STOP,
        StopReason.USER_ABORT,
        StopReason.INTERRUPTED,
        StopReason.INTERRUPTED_TWICE,
        StopReason.QUIT,
    }
)


class Steer(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    TARGET = "target"  # a new target rate or VU count (typed, or +/-)
    STOP = "stop"
    ABORT = "abort"


@dataclass(frozen=True)
class SteeringEvent:
    """One command: `t` seconds after the workers started; `from_`/`to` the target
    (VUs or iterations/s) before and after, for TARGET only; `run` names the input a
    merged report's event came from; `scenario` the one it steered (None: all of them)."""

    t: float
    what: Steer
    from_: float | None = None
    to: float | None = None
    run: str | None = None
    scenario: str | None = None

    def as_table(self) -> dict[str, Any]:
        """The `[[meta.steering]]` entry (TOML has no null: absent keys are None)."""
        out: dict[str, Any] = {"t": round(self.t, 3), "what": str(self.what)}
        if self.from_ is not None:
            out["from"] = round(self.from_, 3)
        if self.to is not None:
            out["to"] = round(self.to, 3)
        if self.run is not None:
            out["run"] = self.run
        if self.scenario is not None:
            out["scenario"] = self.scenario
        return out

    @classmethod
    def of_table(cls, table: Any) -> SteeringEvent:
        """An entry read back; ValueError naming the key that is off."""
        if not isinstance(table, Mapping):
            raise ValueError("not a table")
        t = _number(table, "t")
        if t is None:
            raise ValueError("t: missing")
        try:
            what = Steer(table.get("what"))
        except ValueError:
            known = ", ".join(s.value for s in Steer)
            raise ValueError(f"what: {table.get('what')!r} is not one of {known}") from None
        run, scenario = table.get("run"), table.get("scenario")
        return cls(
            t,
            what,
            _number(table, "from"),
            _number(table, "to"),
            str(run) if run else None,
            str(scenario) if scenario else None,
        )

    @property
    def bends(self) -> bool:
        """It changed the load's shape (a stop only ends it: the run's ending says so)."""
        return self.what not in (Steer.STOP, Steer.ABORT)

    @property
    def done(self) -> str:
        """ "paused", or a new target's value ("240")."""
        if self.what is Steer.TARGET and self.to is not None:
            return fmt_target(self.to)
        return _PAST[self.what]

    def words(self) -> str:
        """ "240 at 0:05", "paused at 0:03": the event as the summary and compare say it."""
        return f"{self.done} at {clock(self.t)}"


_PAST = {
    Steer.PAUSE: "paused",
    Steer.RESUME: "resumed",
    Steer.TARGET: "retargeted",
    Steer.STOP: "stopped",
    Steer.ABORT: "aborted",
}


def _number(table: Mapping[str, Any], key: str) -> float | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{key}: expected a number, got {value!r}")
    return float(value)


def fmt_target(value: float) -> str:
    """A target as people read it: 240, 66.7, 1,500 (never 66.7355)."""
    return f"{value:,.1f}".removesuffix(".0")


def steering_words(events: Sequence[SteeringEvent]) -> list[str]:
    """How the shape was changed by hand: "paused 0:03-0:05", "240 at 0:05" (merged:
    "... (run A)"). Stops are left out: the run's ending says them already."""
    out = []
    paused: SteeringEvent | None = None
    for e in events:
        if e.what is Steer.PAUSE:
            paused = e
            continue
        if e.what is Steer.RESUME and paused is not None:
            said = f"paused {clock(paused.t)}-{clock(e.t)}"
            paused = None
        elif e.what is Steer.TARGET:
            said = e.words()
        else:
            continue
        out.append(said + (f" ({e.run})" if e.run else ""))
    if paused is not None:
        out.append(paused.words() + (f" ({paused.run})" if paused.run else ""))
    return out


@dataclass
class SteeringLog:
    """The events of one run, timed by `clock` (seconds since the workers started)."""

    clock: Callable[[], float]
    events: list[SteeringEvent] = field(default_factory=list)

    def add(
        self,
        what: Steer,
        from_: float | None = None,
        to: float | None = None,
        *,
        scenario: str | None = None,
    ) -> None:
        t = max(self.clock(), 0.0)
        self.events.append(SteeringEvent(t, what, from_, to, scenario=scenario))

    def stopped(self, kind: StopReason, *, abort: bool = False) -> None:
        """A stop or abort, on record when a person gave it."""
        if kind in BY_HAND:
            self.add(Steer.ABORT if abort else Steer.STOP)
