"""A run's states and the reasons it stops: typed, with the words users read as values."""

from __future__ import annotations

from enum import StrEnum


class RunState(StrEnum):
    READY = "ready"  # built, not started: commands given now apply at the start
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"  # no new iterations; those in flight get gracefulStop
    FINISHED = "finished"


class StopReason(StrEnum):
    """Why a run ended. Reasons with details (a threshold's abortOnFail, a breaking
    point, an internal error) are the strings made by the functions below."""

    DURATION = "duration reached"
    MAX_DURATION = "maxDuration reached"
    ITERATIONS = "iterations done"
    USER_STOP = "stopped by user"
    USER_ABORT = "aborted by user"
    INTERRUPTED = "interrupted (Ctrl+C)"
    INTERRUPTED_TWICE = "aborted (Ctrl+C twice)"
    TERMINATED = "terminated (SIGTERM)"
    HUNG_UP = "terminal hung up (SIGHUP)"
    SIGNALLED_TWICE = "aborted (a second signal)"
    QUIT = "quit"
    CANCELLED = "cancelled"
    CONTROLLER_GONE = "controller gone"

    @property
    def natural(self) -> bool:
        """The plan ran to its end: not a reason worth reporting."""
        return self in _NATURAL


_NATURAL = frozenset({StopReason.DURATION, StopReason.MAX_DURATION, StopReason.ITERATIONS})


def is_natural(reason: str | None) -> bool:
    return reason is None or reason in _NATURAL


def threshold_abort(key: str, expression: str) -> str:
    return f"threshold {key}: {expression} failed (abortOnFail)"


def breaking_point(what: str) -> str:
    return f"breaking point: {what}"


def workers_lost(failures: list[str]) -> str:
    return "every worker died: " + "; ".join(failures)


def checkpoint_reason(elapsed: float) -> str:
    """The reason a report written while its run still goes carries."""
    return f"checkpoint: running at {elapsed:.0f}s"


def internal_error(error: str) -> str:
    return f"internal error: {error}"
