"""How the app gets its engine.Controller (and its rollout driver).

The app takes a factory (engine.run_session.ControllerFactory) instead of constructing
`Controller` itself, so tests inject the Controller over a scripted pool (tests/scripted.py) and
drive every key without traffic.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from engine.load.controller import Controller
from engine.load.run import RunPlan, Snapshot
from engine.run_session import RunControl

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


def engine_controller(plan: RunPlan, on_snapshot: Callable[[Snapshot], None]) -> RunControl:
    """The real engine: load runs in worker processes (plans are built with in_process=False).

    Their stderr goes to WORKER_LOG, not to the terminal the app draws on (the pool starts
    multiprocessing's resource tracker with the real stderr: engine/load/pools/process.py).
    """
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
