"""A stop cause is a kind and a detail; its text is what reports and screens said before,
and a report's text reads back to the same cause (compare judges old reports by it)."""

from __future__ import annotations

import pytest

from engine.load.states import (
    Ending,
    StopCause,
    StopReason,
    checkpoint_reason,
    ending_of,
    threshold_abort,
    workers_lost,
)


@pytest.mark.parametrize(
    ("cause", "text"),
    [
        (
            threshold_abort("http_req_failed", "rate<0.01"),
            "threshold http_req_failed: rate<0.01 failed (abortOnFail)",
        ),
        (
            StopCause(StopReason.BREAKING_POINT, "error rate 7.0% > 5%"),
            "breaking point: error rate 7.0% > 5%",
        ),
        (
            workers_lost(["worker 0: killed", "worker 1: killed"]),
            "every worker died: worker 0: killed; worker 1: killed",
        ),
        (workers_lost(["worker 0: killed"], every=False), "a worker was lost: worker 0: killed"),
        (checkpoint_reason(61.4), "checkpoint: running at 61s"),
        (
            StopCause(StopReason.PARTIAL, "saved while running at 3s"),
            "partial: saved while running at 3s",
        ),
        (StopCause(StopReason.INTERNAL_ERROR, "OSError: boom"), "internal error: OSError: boom"),
        (
            StopCause(StopReason.OTHER, "the app ended before the run was saved"),
            "the app ended before the run was saved",
        ),
        (StopCause(StopReason.INTERRUPTED), "interrupted (Ctrl+C)"),
        (StopCause(StopReason.ROLLOUT_ENDED), "rollout ended"),
    ],
)
def test_a_cause_says_the_words_of_before_and_reads_back(cause: StopCause, text: str) -> None:
    assert str(cause) == text
    assert StopCause.parse(text) == cause


def test_every_kind_reads_back_from_its_text() -> None:
    for kind in StopReason:
        has_detail = str(StopCause(kind)) != kind.value
        cause = StopCause(kind, "x: y" if has_detail else "")
        assert StopCause.parse(str(cause)) == cause, kind


@pytest.mark.parametrize(
    ("aborted", "cause", "error", "ending"),
    [
        (False, None, None, Ending.FINISHED),
        (False, StopCause(StopReason.DURATION), None, Ending.FINISHED),
        (True, threshold_abort("checks", "rate>0.9"), None, Ending.THRESHOLD_ABORT),
        (
            True,
            StopCause(StopReason.BREAKING_POINT, "p95 9ms > 10x its start"),
            None,
            Ending.BREAKING_POINT,
        ),
        (True, StopCause(StopReason.INTERRUPTED), None, Ending.STOPPED),
        (True, StopCause(StopReason.QUIT), None, Ending.STOPPED),
        (True, StopCause(StopReason.HUNG_UP), None, Ending.SIGNALLED),
        (True, StopCause(StopReason.INTERRUPTED_TWICE), None, Ending.ABORTED),
        (True, checkpoint_reason(5), None, Ending.ABORTED),
        (False, workers_lost(["worker 1: gone"], every=False), None, Ending.WORKER_LOST),
        (True, StopCause(StopReason.INTERNAL_ERROR, "ValueError: x"), None, Ending.CRASHED),
        (True, StopCause(StopReason.USER_STOP), "ValueError: x", Ending.CRASHED),
    ],
)
def test_the_ending_is_a_match_on_the_kind(
    aborted: bool, cause: StopCause | None, error: str | None, ending: Ending
) -> None:
    assert ending_of(aborted, cause, error) is ending
    if cause is not None:  # the same from a report's text
        assert ending_of(aborted, StopCause.parse(str(cause)), error) is ending


def test_a_command_takes_a_kind_a_cause_or_words_of_its_own() -> None:
    assert StopCause.of(StopReason.QUIT) == StopCause(StopReason.QUIT)
    assert StopCause.of(checkpoint_reason(2)) == checkpoint_reason(2)
    assert StopCause.of("rollout over") == StopCause(StopReason.OTHER, "rollout over")
    assert str(StopCause.of("rollout over")) == "rollout over"
    assert StopCause.of("interrupted (Ctrl+C)") == StopCause(StopReason.INTERRUPTED)
