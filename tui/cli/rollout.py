"""A rollout beside a headless run (`surge run PROFILE` with `[deploy]`, `surge demo
--headless`): each event printed as it happens, the record and exit code at the end."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from engine.deploy.strategies import Event
from engine.report.deploy_section import StepRow, render_step

if TYPE_CHECKING:  # loaded by driver_for_run, for a profile with [deploy] only
    from engine.deploy.driver import DeployDriver
    from engine.profile import Profile

__all__ = ["announce", "driver_for_run", "print_event"]


def print_event(at: float, event: Event, row: StepRow | None) -> None:
    """One line per event on stdout, as it happens: a judged window with its figures."""
    text = (
        render_step(row.as_dict())
        if row is not None
        else (f"{at:6.1f}s  {event.kind.value}: {event.message}")
    )
    with contextlib.suppress(OSError, ValueError):  # the terminal may be gone (SIGHUP)
        sys.stdout.write(f"  deploy {text}\n")
        sys.stdout.flush()


def announce(driver: DeployDriver) -> None:
    print(
        f"  deploy: {driver.strategy.name} rollout through {driver.describe_router()}, "
        f"on_exit = {driver.on_exit}",
        flush=True,
    )
    if driver.fleet is not None:  # what Surge will run, before it runs it
        for line in driver.fleet.launcher.commands():
            print(f"  deploy: starts {line} (logs in {driver.fleet.launcher.log_dir})", flush=True)


def driver_for_run(profile: Profile, report: str | None = None) -> DeployDriver | None:
    """`surge run PROFILE`: the profile's `[deploy]` rollout, attached to its router.
    Instances started from recipes log beside the report (REPORT-instances/)."""
    if profile.deploy is None:
        return None
    from engine.deploy.setup import profile_driver

    log_dir = None
    if report:
        log_dir = Path(report).parent / f"{Path(report).stem}-instances"
    driver = profile_driver(profile, on_event=print_event, log_dir=log_dir)
    announce(driver)
    return driver
