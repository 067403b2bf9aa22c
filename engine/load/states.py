"""A run's states and why it stops: typed, with the words users read as values."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RunState(StrEnum):
    READY = "ready"  # built, not started: commands given now apply at the start
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"  # no new iterations; those in flight get gracefulStop
    FINISHED = "finished"


class StopReason(StrEnum):
    """The kind of a run's stop cause. A kind without a detail says its value; one with a
    detail (a threshold, a breaking point, a lost worker) says its words in `_SAID`."""

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
    # with a detail
    THRESHOLD = "threshold"  # abortOnFail; the detail `key: expression`
    BREAKING_POINT = "breaking point"
    CAPACITY = "capacity search done"  # --type capacity found its answer; the detail says it
    WORKERS_DIED = "every worker died"
    WORKER_LOST = "a worker was lost"  # on_worker_loss = "abort"
    CHECKPOINT = "checkpoint"  # a report written while its run still goes
    PARTIAL = "partial"  # saved by hand while the run goes
    SETUP_FAILED = "setup failed"  # k6's setup(): no scenario ran; the detail says why
    INTERNAL_ERROR = "internal error"
    ENGINE_ERROR = "engine error"  # the console's engine worker raised (today: aborted)
    OTHER = "other"  # the detail is all its words (a front end's own, an old report's)


# The words of a kind with a detail; `{}` is the detail.
_SAID = {
    StopReason.THRESHOLD: "threshold {} failed (abortOnFail)",
    StopReason.BREAKING_POINT: "breaking point: {}",
    StopReason.CAPACITY: "capacity search done: {}",
    StopReason.WORKERS_DIED: "every worker died: {}",
    StopReason.WORKER_LOST: "a worker was lost: {}",
    StopReason.CHECKPOINT: "checkpoint: {}",
    StopReason.PARTIAL: "partial: {}",
    StopReason.SETUP_FAILED: "setup failed: {}",
    StopReason.INTERNAL_ERROR: "internal error: {}",
    StopReason.ENGINE_ERROR: "engine error: {}",
    StopReason.OTHER: "{}",
}


@dataclass(frozen=True)
class StopCause:
    """Why a run ended: a kind and its detail. Its str() is the text the report
    (`meta.stop_reason`) and the screens show; `parse` reads that text back."""

    kind: StopReason
    detail: str = ""

    def __str__(self) -> str:
        said = _SAID.get(self.kind)
        return said.format(self.detail) if said else str(self.kind)

    @classmethod
    def of(cls, reason: StopCause | str) -> StopCause:
        """A command's reason as a cause: a kind alone, or text read as a report's is."""
        if isinstance(reason, StopCause):
            return reason
        return cls(reason) if isinstance(reason, StopReason) else cls.parse(reason)

    @classmethod
    def parse(cls, text: str) -> StopCause:
        """The cause a report's text says; words no kind makes are OTHER."""
        if text in _BARE:
            return cls(StopReason(text))
        for kind, said in _SAID.items():
            head, tail = said.split("{}")
            if kind is not StopReason.OTHER and text.startswith(head) and text.endswith(tail):
                return cls(kind, text[len(head) : len(text) - len(tail)])
        return cls(StopReason.OTHER, text)


_BARE = frozenset(k.value for k in StopReason if k not in _SAID)
_NATURAL = frozenset({StopReason.DURATION, StopReason.MAX_DURATION, StopReason.ITERATIONS})
# Ends after which teardown() does not run, as in k6: an abort by hand (a second Ctrl+C
# or signal), a cancelled run, a crash. It runs after a stop, a threshold's abort, a
# plan's end.
_NO_TEARDOWN = frozenset(
    {
        StopReason.USER_ABORT,
        StopReason.INTERRUPTED_TWICE,
        StopReason.SIGNALLED_TWICE,
        StopReason.CANCELLED,
        StopReason.SETUP_FAILED,
        StopReason.INTERNAL_ERROR,
    }
)


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


def ending_of(aborted: bool, cause: StopCause | None, error: str | None) -> Ending:
    """The ending a run's flags and stop cause add up to."""
    kind = cause.kind if cause is not None else None
    if error is not None or kind is StopReason.INTERNAL_ERROR:
        return Ending.CRASHED
    if kind in (StopReason.WORKERS_DIED, StopReason.WORKER_LOST):
        return Ending.WORKER_LOST
    if not aborted:
        return Ending.FINISHED
    match kind:
        case StopReason.THRESHOLD:
            return Ending.THRESHOLD_ABORT
        case StopReason.BREAKING_POINT:
            return Ending.BREAKING_POINT
        case StopReason.CAPACITY:
            return Ending.FINISHED  # the search ends the run when it has its answer
        case StopReason.USER_STOP | StopReason.INTERRUPTED | StopReason.QUIT:
            return Ending.STOPPED
        case StopReason.TERMINATED | StopReason.HUNG_UP:
            return Ending.SIGNALLED
    return Ending.ABORTED


def is_natural(cause: StopCause | None) -> bool:
    return cause is None or cause.kind in _NATURAL


def runs_teardown(cause: StopCause | None) -> bool:
    return cause is None or cause.kind not in _NO_TEARDOWN


def state_label(state: RunState, cause: StopCause | None) -> str:
    """The state as a progress line says it: a run Ctrl+C (or anything) ended early is not
    `finished` but its reason, e.g. `interrupted (Ctrl+C)`."""
    if state is RunState.FINISHED and not is_natural(cause):
        return str(cause)
    return str(state)


def threshold_abort(key: str, expression: str) -> StopCause:
    return StopCause(StopReason.THRESHOLD, f"{key}: {expression}")


def workers_lost(failures: list[str], *, every: bool = True) -> StopCause:
    """Why a run ended over lost workers: all of them, or one (on_worker_loss = "abort")."""
    kind = StopReason.WORKERS_DIED if every else StopReason.WORKER_LOST
    return StopCause(kind, "; ".join(failures))


def checkpoint_reason(elapsed: float) -> StopCause:
    """The cause a report written while its run still goes carries."""
    return StopCause(StopReason.CHECKPOINT, f"running at {elapsed:.0f}s")
