"""What the Controller needs of a pool of workers, wherever they run.

In this process (`LocalPool`), in worker processes (`ProcessPool`); another kind
(Ray actors) is one more implementation of this interface.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod

import psutil

from engine.load import messages as msg
from engine.load.metrics import Interval
from engine.load.states import StopCause


def one_core(percent: float) -> float:
    """A worker runs one loop on one core: readings over a few milliseconds (the last,
    short interval) can exceed 100% and would raise a false saturation warning."""
    return min(percent, 100.0)


def cpu_of(proc: psutil.Process, last: float = 0.0) -> float:
    """This process's CPU since the last call, in % of one core; `last` again when it
    cannot be read (no file descriptor left for /proc: a run at the fd limit goes on)."""
    try:
        return one_core(proc.cpu_percent(None))
    except (OSError, psutil.Error):
        return last


def merge(parts: list[Interval]) -> Interval:
    out = parts[0]
    for p in parts[1:]:
        out.add(p)
    return out


class Pool(ABC):
    """Runs one plan on its workers; commands apply to all of them at once."""

    failures: list[str]  # one line per worker that failed or died
    lost: int = 0  # workers that died before their run ended
    cpu: list[float]  # each worker's CPU over the last interval, percent of one core
    scale: float
    stop_reason: StopCause | None
    # setup()'s captures, ("setup.NAME", value), every VU has them; set before `gate`.
    setup_values: tuple[tuple[str, str], ...] = ()
    # Set by the Controller once setup() is done (None: no setup): workers spawn
    # meanwhile, and start after it.
    gate: asyncio.Event | None = None
    # Set by `run` once the workers' clocks run (processes spawned and told to start):
    # the Controller's intervals count from then, so the first is as long as the rest.
    started: asyncio.Event

    @property
    @abstractmethod
    def size(self) -> int: ...

    @abstractmethod
    def pause(self, scenario: str | None = None) -> None:
        """Every lane, or one scenario's (on every worker that runs a part of it)."""

    @abstractmethod
    def resume(self, scenario: str | None = None) -> None: ...

    @abstractmethod
    def set_scale(self, scale: float, scenario: str | None = None) -> None:
        """`scale` stays the pool's own for all lanes; one scenario's is the lanes'."""

    @abstractmethod
    def stop(self, reason: StopCause) -> None: ...

    @abstractmethod
    def abort(self, reason: StopCause) -> None: ...

    @abstractmethod
    def target(self) -> float:
        """The executors' summed target: VUs, or iterations per second."""

    @abstractmethod
    def progress(self) -> float: ...

    @abstractmethod
    async def run(self) -> None:
        """Until every worker is done."""

    @abstractmethod
    async def harvest(self) -> Interval:
        """The interval since the last harvest, merged over the workers."""

    @abstractmethod
    async def close(self) -> None: ...

    async def setup_done(self) -> None:
        """Until setup() is done, if the plan has one."""
        if self.gate is not None:
            await self.gate.wait()

    def nodes(self) -> tuple[str, ...]:
        """Each worker's machine, for a pool that spans several; () on this one alone."""
        return ()


class RemotePool(Pool):
    """A pool whose workers are away (processes, Ray actors): each command is a message
    to all of them; pause and an ending given before the start are folded into it."""

    _paused: bool = False
    _ending: msg.Stop | msg.Abort | None = None
    _target: float = 0.0
    _lanes: tuple[msg.Pause | msg.Scale, ...] = ()  # one scenario's commands, for the start

    @abstractmethod
    def _send(self, command: msg.Command) -> None:
        """To every worker still running."""

    def pause(self, scenario: str | None = None) -> None:
        if scenario is None:
            self._paused = True
        else:
            self._lanes = (*self._lanes, msg.Pause(scenario))
        self._send(msg.Pause(scenario))

    def resume(self, scenario: str | None = None) -> None:
        if scenario is None:
            self._paused = False
            self._lanes = tuple(c for c in self._lanes if not isinstance(c, msg.Pause))
        else:
            self._lanes = tuple(c for c in self._lanes if c != msg.Pause(scenario))
        self._send(msg.Resume(scenario))

    def set_scale(self, scale: float, scenario: str | None = None) -> None:
        if scenario is None:
            self.scale = max(scale, 0.001)
            self._lanes = tuple(c for c in self._lanes if not isinstance(c, msg.Scale))
            self._send(msg.Scale(self.scale))
        else:
            self._lanes = (*self._lanes, msg.Scale(scale, scenario))
            self._send(msg.Scale(scale, scenario))

    def start_message(self) -> msg.Start:
        """The start, with every command given before it."""
        return msg.Start(self._paused, self.scale, self._ending, self._lanes, self.setup_values)

    def stop(self, reason: StopCause) -> None:
        self.stop_reason = self.stop_reason or reason
        self._ending = self._ending or msg.Stop(reason)
        self._send(msg.Stop(reason))

    def abort(self, reason: StopCause) -> None:
        self.stop_reason = self.stop_reason or reason
        self._ending = msg.Abort(reason)
        self._send(msg.Abort(reason))

    def target(self) -> float:
        return self._target

    def _merge(self, parts: list[Interval]) -> Interval:
        """The workers' intervals as one (empty without any); its target is the pool's."""
        if not parts:
            return Interval(0.0, 0.0)
        merged = merge(parts)
        self._target = sum(lane.target for lane in merged.lanes.values()) or merged.target
        return merged
