"""The last word after SIGTERM or SIGHUP: the console ends by a deadline, whatever Textual does.

A terminal that is gone (an SSH drop, a killed tmux) leaves Textual's writer thread
unable to write; its queue fills and the main thread blocks for ever in the driver's
exit (`disable_input` / `WriterThread.stop` -> `Queue.put`), deaf to the loop's signal
handlers. So once a stop signal has arrived, this thread gives the normal path (stop
the run, save it, exit) `EXIT_DEADLINE_S` plus the stop grace of the instances Surge
started; past that it saves what is still unsaved (stopping those instances first)
and ends the process with `os._exit`. The engine's worker processes see their pipe
close and stop on their own.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.load.states import StopReason

# Half a second under the 2 s promised: the fallback save and the exit fit in the rest.
EXIT_DEADLINE_S = 1.5


@dataclass
class ExitWatchdog:
    """Armed once by the first stop signal; harmless if the process ends before it fires."""

    save: Callable[[str], object]  # writes the unsaved run (stopping instances first)
    grace: Callable[[], float]  # seconds the instances still running may take to stop
    code: Callable[[], int]  # the exit code the normal path would have returned
    deadline_s: float = EXIT_DEADLINE_S
    exit: Callable[[int], object] = os._exit
    armed: threading.Event = field(default_factory=threading.Event)

    def arm(self, reason: StopReason) -> None:
        if self.armed.is_set():
            return
        self.armed.set()
        until = time.monotonic() + self.deadline_s + self.grace()
        threading.Thread(
            target=self._watch, args=(reason, until), name="surge-exit-watchdog", daemon=True
        ).start()

    def _watch(self, reason: StopReason, until: float) -> None:
        # A deadline, not a guess: the only event to wait for is the process's own end,
        # which ends this (daemon) thread with it.
        time.sleep(max(0.0, until - time.monotonic()))
        with contextlib.suppress(Exception):
            self.save(reason.value)
        self.exit(self.code())
