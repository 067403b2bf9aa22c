"""The console's exit watchdog (tui.app.watchdog): armed once, it saves then exits."""

from __future__ import annotations

import threading

from engine.load.states import StopReason
from tui.app.watchdog import ExitWatchdog


def test_past_its_deadline_it_saves_what_is_unsaved_then_exits_with_the_code() -> None:
    calls: list[object] = []
    exited = threading.Event()

    def exit_(code: int) -> None:
        calls.append(("exit", code))
        exited.set()

    dog = ExitWatchdog(
        save=lambda why: calls.append(("save", why)),
        grace=lambda: 0.05,
        code=lambda: 1,
        deadline_s=0.0,
        exit=exit_,
    )
    dog.arm(StopReason.HUNG_UP)
    dog.arm(StopReason.TERMINATED)  # a second signal does not start a second watch
    assert exited.wait(5)
    assert calls == [("save", "terminal hung up (SIGHUP)"), ("exit", 1)]


def test_a_failing_save_does_not_keep_the_process_alive() -> None:
    exited = threading.Event()

    def broken(_why: str) -> None:
        raise OSError("disk full")

    dog = ExitWatchdog(
        save=broken, grace=lambda: 0.0, code=lambda: 0, deadline_s=0.0, exit=lambda _c: exited.set()
    )
    dog.arm(StopReason.TERMINATED)
    assert exited.wait(5)
