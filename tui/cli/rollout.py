"""A rollout beside a headless run (`surge run PROFILE` with `[deploy]`, `surge demo
--headless`): each event printed as it happens, the record and exit code at the end."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from engine.deploy.strategies import Event
from engine.report.deploy_section import StepRow, render_step
from tui.app.probe import address, tcp_probe

if TYPE_CHECKING:  # loaded by driver_for_run, for a profile with [deploy] only
    from engine.deploy.driver import DeployDriver
    from engine.profile import Profile

__all__ = ["Unreachable", "announce", "driver_for_run", "print_event"]


class Unreachable(Exception):
    """The target or the router does not answer: the run does not start (exit 2)."""


def print_event(at: float, event: Event, row: StepRow | None) -> None:
    """One line per event on stdout, as it happens: a judged window with its figures."""
    text = (
        render_step(row)
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


async def driver_for_run(profile: Profile, report: str | None = None) -> DeployDriver | None:
    """`surge run PROFILE`: the profile's `[deploy]` rollout, attached to its router.
    Instances started from recipes log beside the report (REPORT-instances/).
    Unreachable when the target or the router does not answer (`precheck`)."""
    if profile.deploy is None:
        return None
    from engine.deploy.setup import profile_driver

    log_dir = None
    if report:
        log_dir = Path(report).parent / f"{Path(report).stem}-instances"
    driver = profile_driver(profile, on_event=print_event, log_dir=log_dir)
    try:
        await precheck(profile, driver)
    except Unreachable:
        await driver.aclose()
        raise
    announce(driver)
    return driver


async def precheck(profile: Profile, driver: DeployDriver) -> None:
    """Before any load, as the console does: the target and the router answer. Without
    them a rollout records weights nobody took beside requests that all fail; a plain
    run against a refused target still goes (counted, as k6)."""
    from engine.deploy.routers import RouterError

    host, port = address(profile.base_url)
    if (why := await tcp_probe(host, port)) is not None:
        raise Unreachable(
            f"target {profile.base_url} does not answer ({why}): start it, or the router "
            "in front of it, first"
        )
    if driver.router is None:
        return
    try:
        await driver.router.check()
    except RouterError as exc:
        raise Unreachable(
            f"router {driver.describe_router()} does not answer ({exc}): start it, or fix "
            "[deploy] (admin_port, socket)"
        ) from None
