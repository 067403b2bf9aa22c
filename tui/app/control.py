"""How the app gets its engine.Controller (and its rollout driver).

The app takes a factory (engine.session.ControllerFactory) instead of constructing
`Controller` itself, so tests inject a scripted stand-in (tui.app.scripted) and
drive every key without traffic.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from multiprocessing import resource_tracker
from pathlib import Path
from typing import TYPE_CHECKING

from engine.load.controller import Controller
from engine.load.run import RunPlan, Snapshot
from engine.session import ControllerFactory, RunControl

if TYPE_CHECKING:
    from engine.deploy.driver import DeployDriver
    from tui.app.session import RunSetup


WORKER_LOG = (
    Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    / "surge"
    / "workers.log"
)
# A run's rollout driver, or None for a run without one; given the run's profile and plan.
DeployFactory = Callable[["RunSetup"], "DeployDriver | None"]


def start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker with the real stderr.

    Spawning the first worker process starts the tracker and hands it
    sys.stderr's file descriptor; inside a Textual app sys.stderr is a capture
    object whose fileno() is -1, and the spawn fails ("bad value(s) in
    fds_to_keep"). Started here once with the real stderr, it is reused after.
    """
    real = sys.__stderr__
    if real is None:
        return
    with contextlib.redirect_stderr(real):
        resource_tracker.ensure_running()


def engine_controller(plan: RunPlan, on_snapshot: Callable[[Snapshot], None]) -> RunControl:
    """The real engine: load runs in worker processes (plans are built with in_process=False).

    Their stderr goes to WORKER_LOG, not to the terminal the app draws on.
    """
    start_resource_tracker()
    WORKER_LOG.parent.mkdir(parents=True, exist_ok=True)
    return Controller(replace(plan, worker_log=str(WORKER_LOG)), on_snapshot=on_snapshot)


def profile_deploy(setup: RunSetup) -> DeployDriver | None:
    """A profile's `[deploy]` plan, driven through the router it names on this machine.

    The rollout waits for the user (D starts it); `surge demo` passes its own factory,
    which starts at once. A smoke run goes to the proxy's public port, on the profile's
    first GET path.
    """
    plan = setup.profile.deploy
    if plan is None:
        return None
    from engine.deploy.setup import profile_driver

    return profile_driver(setup.profile)


__all__ = ["ControllerFactory", "DeployFactory", "engine_controller", "profile_deploy"]
