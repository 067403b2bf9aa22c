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
    ROLLOUT_ENDED = "rollout ended"  # surge deploy compare: the load ends with the rollout

    @property
    def natural(self) -> bool:
        """The plan ran to its end: not a reason worth reporting."""
        return self in _NATURAL


_NATURAL = frozenset({StopReason.DURATION, StopReason.MAX_DURATION, StopReason.ITERATIONS})


class Ending(StrEnum):
    """How a run ended: the one set of words the summary, the app's header, the report
    (`meta.ended`) and compare all use; each has its exit code (engine/exit_codes.py)."""

    FINISHED = "finished"
    STOPPED = "stopped by you"
    SIGNALLED = "stopped by a signal"
    ABORTED = "aborted"
    THRESHOLD_ABORT = "aborted by a threshold"
    BREAKING_POINT = "stopped at its breaking point"
    WORKER_LOST = "a worker was lost"
    CRASHED = "crashed"


_STOPPED_BY_YOU = frozenset({StopReason.USER_STOP, StopReason.INTERRUPTED, StopReason.QUIT})
_SIGNALLED = frozenset({StopReason.TERMINATED, StopReason.HUNG_UP})


def ending_of(aborted: bool, stop_reason: str | None, error: str | None) -> Ending:
    """The ending a run's flags and stop reason add up to."""
    reason = stop_reason or ""
    if error is not None or reason.startswith("internal error"):
        return Ending.CRASHED
    if reason.startswith(("every worker died", "a worker was lost")):
        return Ending.WORKER_LOST
    if not aborted:
        return Ending.FINISHED
    if reason.startswith("threshold "):
        return Ending.THRESHOLD_ABORT
    if reason.startswith("breaking point"):
        return Ending.BREAKING_POINT
    if reason in _STOPPED_BY_YOU:
        return Ending.STOPPED
    if reason in _SIGNALLED:
        return Ending.SIGNALLED
    return Ending.ABORTED


def is_natural(reason: str | None) -> bool:
    return reason is None or reason in _NATURAL


def state_label(state: RunState, stop_reason: str | None) -> str:
    """The state as a progress line says it: a run Ctrl+C (or anything) ended early is not
    `finished` but its reason, e.g. `interrupted (Ctrl+C)`."""
    if state is RunState.FINISHED and not is_natural(stop_reason):
        return str(stop_reason)
    return str(state)


def threshold_abort(key: str, expression: str) -> str:
    return f"threshold {key}: {expression} failed (abortOnFail)"


def breaking_point(what: str) -> str:
    return f"breaking point: {what}"


def workers_lost(failures: list[str], *, every: bool = True) -> str:
    """Why a run ended over lost workers: all of them, or one (on_worker_loss = "abort")."""
    return ("every worker died: " if every else "a worker was lost: ") + "; ".join(failures)


def checkpoint_reason(elapsed: float) -> str:
    """The reason a report written while its run still goes carries."""
    return f"checkpoint: running at {elapsed:.0f}s"


def internal_error(error: str) -> str:
    return f"internal error: {error}"
