"""One run as the app sees it: the engine's RunSession, what was chosen, whether it is saved.

Kept apart from the screens so the quit path (which may fire from any screen)
can ask one object "is anything unsaved?" and "stop it and give me a result".
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.load.run import RunPlan, RunResult, Snapshot
from engine.profile import Profile
from engine.profile.plan import Overrides
from engine.run_session import RunSession, SessionEnd

if TYPE_CHECKING:
    from textual.worker import Worker

REPORT_DIR = Path("reports")


@dataclass(frozen=True)
class RunSetup:
    """What the picker (or the command line) hands the run screen."""

    profile: Profile
    plan: RunPlan
    overrides: Overrides = field(default_factory=Overrides)
    profile_path: Path | None = None

    @property
    def type_label(self) -> str:
        """The test type as a file-name part; "custom" when the executor came from elsewhere."""
        return self.plan.test_type or "custom"


def slug(text: str) -> str:
    """A file-name-safe form of a profile name (which may be a URL)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return cleaned or "run"


def default_report_path(setup: RunSetup, when: dt.datetime, report_dir: Path = REPORT_DIR) -> Path:
    """reports/PROFILE-TYPE-TIMESTAMP.toml: sorts by profile, then type, then time."""
    stamp = when.strftime("%Y%m%d-%H%M%S")
    return report_dir / f"{slug(setup.profile.name)}-{setup.type_label}-{stamp}.toml"


@dataclass(eq=False, kw_only=True)
class ConsoleSession(RunSession):
    """The engine's session of one run, and what the console keeps beside it: what was
    chosen, when it started (the default report path), its worker, the last snapshot.
    Screens come and go; the session stays until the next run. `prepare` is False: the
    start-instances dialog starts a recipe's instances; `start_rollout` only in `surge demo`
    (D starts it otherwise)."""

    setup: RunSetup
    started_at: dt.datetime
    report_dir: Path = REPORT_DIR
    worker: Worker[SessionEnd] | None = field(default=None, init=False)
    last: Snapshot | None = field(default=None, init=False)

    @property
    def default_path(self) -> Path:
        return default_report_path(self.setup, self.started_at, self.report_dir)

    def begin(self, now: dt.datetime) -> None:
        """The run starts now: checkpoints go to its default report path."""
        self.started_at = now
        self.checkpoint_to = self.default_path
        self.start()

    async def wait_result(self, timeout: float = 20.0) -> RunResult | None:
        """Wait for the engine worker to return (after a stop or an abort)."""
        if self.worker is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.worker.wait(), timeout)
        return self.result
