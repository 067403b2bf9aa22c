"""The deploy panel's log: the latest verdict's reason wrapped in full, never cut (the
statistical judge's reasons are long); the other events a line each; the newest kept."""

from __future__ import annotations

from engine.deploy.strategies import Event, EventKind
from tui.app.widgets.deploy import timeline_view

STARTED = Event(EventKind.STEP_STARTED, 0.0, "step 1/4: green 10%", 0)
FAILED = Event(
    EventKind.ANALYSIS_FAILED, 5.0, "p50 +20% (6.37 vs 5.32 ms), significant at 0.99: fail", 0
)
BACK = Event(EventKind.ROLLED_BACK, 5.0, "1 failed analysis (limit 1)", 0)


def test_the_latest_verdict_is_wrapped_in_full_at_80x24s_width() -> None:
    lines = timeline_view([STARTED, FAILED, BACK], 40, 3, compact=True).plain.splitlines()
    assert lines == [
        "✗ analysis failed: p50 +20% (6.37 vs",
        "5.32 ms), significant at 0.99: fail",
        "↩ rolled back: 1 failed analysis (limit…",
    ]
    roomy = timeline_view([STARTED, FAILED, BACK], 40, 6, compact=True).plain.splitlines()
    assert roomy[0] == "▶ step started: step 1/4: green 10%" and roomy[1:] == lines
    assert all(len(line) <= 40 for line in roomy)


def test_without_a_verdict_each_event_is_one_cut_line() -> None:
    text = timeline_view([STARTED, BACK], 20, 3, compact=True).plain
    assert text.splitlines() == ["▶ step started: ste…", "↩ rolled back: 1 fa…"]
