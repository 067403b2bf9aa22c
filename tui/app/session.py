"""One run as the app sees it: what was chosen, the controller, the result, whether it is saved.

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
from engine.load.states import StopCause, StopReason, checkpoint_reason
from engine.profile import Profile
from engine.profile.plan import Overrides
from engine.report.document import build_report, write_toml

if TYPE_CHECKING:
    from textual.worker import Worker

    from engine.deploy.driver import DeployDriver
    from engine.report.deploy_section import DeployRecord
    from tui.app.control import RunControl

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


@dataclass
class RunSession:
    """The live state of one run; screens come and go, the session stays until the next run."""

    setup: RunSetup
    started_at: dt.datetime
    report_dir: Path = REPORT_DIR
    controller: RunControl | None = None
    worker: Worker[RunResult] | None = None
    result: RunResult | None = None
    last: Snapshot | None = None
    saved_to: Path | None = None
    deploy: DeployDriver | None = None  # a blue/green rollout driven alongside the run
    checkpoint: Path | None = None  # where a running run's minute-by-minute copy is
    dropped: bool = False  # discarded: no checkpoint may be left

    @property
    def started(self) -> bool:
        return self.controller is not None

    @property
    def running(self) -> bool:
        return self.started and self.result is None

    @property
    def measured(self) -> bool:
        """True once at least one interval came back: from then on there is data to lose."""
        if self.controller is None:
            return False
        return bool(self.controller.model.timeline)

    @property
    def unsaved(self) -> bool:
        return self.measured and self.saved_to is None

    @property
    def default_path(self) -> Path:
        return default_report_path(self.setup, self.started_at, self.report_dir)

    def partial_result(self, reason: StopCause) -> RunResult:
        """What a report of the run so far holds, while the run goes on.

        Built from the controller's live model (same loop, so it is consistent at
        the moment of the call); marked aborted so nobody mistakes it for a
        finished run.
        """
        assert self.controller is not None
        return self.controller.result(aborted=True, stop_reason=reason)

    async def wait_result(self, timeout: float = 20.0) -> RunResult | None:
        """Wait for the engine worker to return (after a stop or an abort)."""
        if self.worker is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.worker.wait(), timeout)
        return self.result

    async def save(self, path: Path, result: RunResult | None = None) -> Path:
        """Write the report off the UI thread; OSError propagates for the caller to show."""
        result = result or self.result
        if result is None:
            result = self.partial_result(
                StopCause(StopReason.PARTIAL, f"saved while running at {self._elapsed():.0f}s")
            )
        # Built on this loop (the model may still be changing), written in a thread.
        data = build_report(result, self.deploy_record())
        written = await asyncio.to_thread(write_toml, data, path)
        if result is self.result:
            self.saved_to = written
            if self.checkpoint is not None and self.checkpoint != written:
                self.checkpoint.unlink(missing_ok=True)  # the whole run is saved elsewhere
            self.checkpoint = None
        return written

    async def write_checkpoint(self) -> None:
        """The run so far, to its default report path, marked aborted: a power cut in a
        long run loses at most a minute. The final save replaces it; a discard deletes it."""
        if not self.running or not self.measured or self.dropped:
            return
        result = self.partial_result(checkpoint_reason(self._elapsed()))
        data = build_report(result, self.deploy_record())  # on the loop: the model is consistent
        written = await asyncio.to_thread(write_toml, data, self.default_path)
        if self.dropped:  # discarded while the file was being written: it goes too
            written.unlink(missing_ok=True)
            return
        self.checkpoint = written

    def deploy_record(self) -> DeployRecord | None:
        """The rollout for the report's [deploy]: as it ended, or as it stands."""
        if self.deploy is None:
            return None
        return self.deploy.final or self.deploy.record()

    def drop_checkpoint(self) -> None:
        """The user discarded the run: its checkpoint goes too (and one being written)."""
        self.dropped = True
        if self.checkpoint is not None and self.saved_to is None:
            self.checkpoint.unlink(missing_ok=True)
        self.checkpoint = None

    def _elapsed(self) -> float:
        return self.controller.model.elapsed if self.controller is not None else 0.0
