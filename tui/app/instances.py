"""What the app shows of the instances Surge starts from recipes: a row per instance, and
the tail of its log file.

Read from the rollout's fleet (engine.deploy.fleet) on a timer by the screens that show
them (the start dialog's progress, the instance log screen), so nothing in the deploy
subsystem has to report to the UI.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from engine.deploy.fleet import Fleet
from engine.deploy.strategies import COLORS

__all__ = ["TAIL_LINES", "InstanceRow", "instance_rows", "tail"]

TAIL_LINES = 200
TAIL_BYTES = 256 * 1024  # enough for 200 long lines; a huge log is never read whole


@dataclass(frozen=True)
class InstanceRow:
    """One instance: running (`pid`, `address`) or stopped (only its log is left)."""

    name: str
    address: str
    pid: int | None
    state: str
    log: Path


def instance_rows(fleet: Fleet) -> list[InstanceRow]:
    """Every instance of the rollout so far, blue before green, by index. A running one
    serves (registered with the router) or not (starting, or draining); an instance that
    stopped is known by the log file it left in the launcher's folder."""
    launcher = fleet.launcher
    rows: dict[str, InstanceRow] = {}
    for inst in launcher.running.values():
        if not inst.alive:
            state = f"exited ({inst.process.returncode})"
        else:
            state = "serving" if inst.name in fleet.serving else "not in service"
        rows[inst.name] = InstanceRow(inst.name, inst.address, inst.pid, state, inst.log)
    if launcher.log_dir.is_dir():
        for log in launcher.log_dir.glob("*.log"):
            if log.stem not in rows:
                rows[log.stem] = InstanceRow(log.stem, "", None, "stopped", log)
    return sorted(rows.values(), key=_order)


def _order(row: InstanceRow) -> tuple[int, int, str]:
    color, _, index = row.name.rpartition("-")
    rank = COLORS.index(color) if color in COLORS else len(COLORS)
    return (rank, int(index) if index.isdigit() else 0, row.name)


def tail(path: Path, lines: int = TAIL_LINES) -> list[str]:
    """The last `lines` lines of a log (none if it is not there yet); reads at most
    TAIL_BYTES from its end."""
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - TAIL_BYTES))
            data = f.read()
    except OSError:
        return []
    text = data.decode("utf-8", "replace").splitlines()
    if size > TAIL_BYTES:
        text = text[1:]  # the first line read is cut
    return text[-lines:]
