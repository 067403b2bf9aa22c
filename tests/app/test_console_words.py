"""Issue 23's smaller console items, each held by a test: what the screens say and how."""

from __future__ import annotations

from typing import Any

import pytest

from tui.app.app import leave_router


class FakeDeploy:
    """Only what leave_router touches: an async finish() that records or fails."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.finished = 0

    async def finish(self) -> None:
        self.finished += 1
        if self.error is not None:
            raise self.error


async def test_leave_router_runs_even_from_a_caller_with_a_running_loop() -> None:
    """It was skipped in silence ("coroutine 'wait_for' was never awaited")."""
    deploy = FakeDeploy()
    leave_router(deploy)  # type: ignore[arg-type]
    assert deploy.finished == 1


def test_a_router_stop_that_fails_is_said_on_stderr(capsys: pytest.CaptureFixture[Any]) -> None:
    leave_router(FakeDeploy(RuntimeError("admin API gone")))  # type: ignore[arg-type]
    assert "surge: the router's graceful stop failed: admin API gone" in capsys.readouterr().err
