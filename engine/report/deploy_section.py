"""A report's `[deploy]` section: what a rollout did, step by step, and how it ended.

The values (`DeployRecord` and its rows) live here, in the reports package, because a
report must be readable without the deploy driver (engine.report never imports
engine.deploy); the driver fills them in. Three jobs, one per function group: the TOML
table (`deploy_table`), the text of `surge report show` and `surge run`
(`render_deploy`), and two rollouts side by side for `compare` (`render_deploy_pair`).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from engine.exit_codes import EXIT_ERROR, EXIT_ROLLED_BACK, EXIT_THRESHOLDS, EXIT_UNFINISHED
from engine.report.text import Paint, fmt_ms

__all__ = [
    "ColorWindow",
    "DeployEventRow",
    "DeployRecord",
    "FleetRow",
    "Outcome",
    "StepRow",
    "deploy_table",
    "render_deploy",
    "render_deploy_pair",
    "render_step",
    "rollout_exit_code",
]


class Outcome(StrEnum):
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    STOPPED = "stopped"  # the user or a signal ended Surge mid-rollout; `on_exit` applied
    UNFINISHED = "unfinished"  # the load ended before the rollout's verdict; `on_exit` applied
    ROUTER_FAILED = "router_failed"  # the router never took the final weights (notes: why)
    RUNNING = "running"  # a report written while the rollout still went (partial, checkpoint)


_OUTCOME_COLORS = {
    "promoted": "32",
    "rolled_back": "31",
    "stopped": "33",
    "unfinished": "31",
    "router_failed": "31",
    "running": "33",
}
# A headless run's exit code by its rollout's outcome (README: "Exit codes").
_OUTCOME_EXIT = {
    Outcome.ROUTER_FAILED: EXIT_ERROR,
    Outcome.ROLLED_BACK: EXIT_ROLLED_BACK,
    Outcome.UNFINISHED: EXIT_UNFINISHED,
}


@dataclass(frozen=True)
class ColorWindow:
    """One color over one analysis window."""

    requests: int = 0
    failed: int = 0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0

    @property
    def error_rate(self) -> float:
        return self.failed / self.requests if self.requests else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "failed": self.failed,
            "error_rate": round(self.error_rate, 6),
            "p50_ms": round(self.p50_ms, 3),
            "p95_ms": round(self.p95_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
        }


@dataclass(frozen=True)
class StepRow:
    """One judged window: when, at which weights, each color's figures, the verdict."""

    at_s: float  # seconds since the rollout started
    step: int | None
    blue_weight: int
    green_weight: int
    window_s: float
    blue: ColorWindow
    green: ColorWindow
    verdict: str  # "passed", "failed" or "inconclusive"
    reason: str

    def as_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "at_s": round(self.at_s, 3),
            "weights": [self.blue_weight, self.green_weight],
            "window_s": round(self.window_s, 3),
            "verdict": self.verdict,
            "reason": self.reason,
            "blue": self.blue.as_dict(),
            "green": self.green.as_dict(),
        }
        if self.step is not None:
            row["step"] = self.step
        return row


@dataclass(frozen=True)
class DeployEventRow:
    at_s: float
    kind: str
    message: str


@dataclass(frozen=True)
class DeployRecord:
    strategy: str
    router: str
    start: str  # ISO 8601, UTC
    end: str
    outcome: Outcome
    blue_weight: int | None  # the router's confirmed weights at the end (None: it confirmed none)
    green_weight: int | None
    on_exit: str = "rollback"
    steps: tuple[StepRow, ...] = ()
    events: tuple[DeployEventRow, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)
    # the router's counts per instance over this run: requests, status_5xx, connection_errors
    instances: dict[str, dict[str, int]] = field(default_factory=dict)
    fleet: FleetRow | None = None  # instances Surge started from recipes

    @property
    def rolled_back(self) -> bool:
        return self.outcome is Outcome.ROLLED_BACK


def rollout_exit_code(run_code: int, record: DeployRecord | None) -> int:
    """A headless run's exit code with its rollout: a failed threshold's 99 wins, then a
    router that never took the final weights (1), a rollback (3), a rollout the load
    ended before its verdict (4, not a pass), then whatever the run itself said (0, or
    1 for a run stopped or aborted)."""
    if run_code == EXIT_THRESHOLDS or record is None:
        return run_code
    return _OUTCOME_EXIT.get(record.outcome, run_code)


@dataclass(frozen=True)
class FleetRow:
    """What a rollout over recipes cost: the most instances running at once, and every
    change of the serving set (seconds since the rollout started, blue and green)."""

    peak: int
    capacity: tuple[tuple[float, int, int], ...] = ()

    @property
    def lowest(self) -> int:
        return min((b + g for _, b, g in self.capacity), default=0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "peak_instances": self.peak,
            "lowest_serving": self.lowest,
            "capacity": [
                {"at_s": round(at, 3), "blue": b, "green": g} for at, b, g in self.capacity
            ],
        }


def deploy_table(record: DeployRecord) -> dict[str, Any]:
    """The `[deploy]` table of a report."""
    table: dict[str, Any] = {
        "strategy": record.strategy,
        "router": record.router,
        "start": record.start,
        "end": record.end,
        "outcome": record.outcome.value,
        "on_exit": record.on_exit,
        "steps": [s.as_dict() for s in record.steps],
        "events": [
            {"at_s": round(e.at_s, 3), "kind": e.kind, "message": e.message} for e in record.events
        ],
    }
    if record.blue_weight is not None and record.green_weight is not None:
        table["final_weights"] = [record.blue_weight, record.green_weight]
    if record.notes:
        table["notes"] = list(record.notes)
    if record.instances:
        table["instances"] = {name: dict(v) for name, v in record.instances.items()}
    if record.fleet is not None:
        table["fleet"] = record.fleet.as_dict()
    return table


# ----------------------------------------------------------------------- reading back


def _num(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _weights(value: Any) -> str:
    if isinstance(value, list) and len(value) == 2:
        return f"{int(_num(value[0]))}:{int(_num(value[1]))}"
    return "?"


def _final_weights(table: Mapping[str, Any]) -> str:
    if "final_weights" not in table:
        return "unknown (the router confirmed none)"
    return f"{_weights(table.get('final_weights'))} (blue:green)"


def _color(c: Any) -> str:
    c = c if isinstance(c, Mapping) else {}
    return (
        f"{int(_num(c.get('requests'))):>7,} req {_num(c.get('error_rate')):>7.2%} err "
        f"p50 {fmt_ms(_num(c.get('p50_ms')))} p95 {fmt_ms(_num(c.get('p95_ms')))} "
        f"p99 {fmt_ms(_num(c.get('p99_ms')))}"
    )


STEP_INDENT = " " * 10  # a step's further lines, under its first one's text
STEP_WIDTH = 80 - 10  # the further lines' text, after STEP_INDENT


def render_step(row: Mapping[str, Any]) -> str:
    """One judged window, as `surge run` prints it when it is judged: its time, weights,
    verdict and window, then each color's figures and the reason (a problem a line) on
    lines of their own, so each fits 80 columns."""
    # one problem (or a note, "vs baseline (...)") a line, kept whole where it fits
    parts = re.split(r"; |, (?=vs )", str(row.get("reason") or ""))
    reason = [
        line
        for i, part in enumerate(p for p in parts if p)
        for line in textwrap.wrap(
            ("— " if i == 0 else "  ") + part, STEP_WIDTH, break_long_words=False
        )
    ]
    lines = [
        f"{_num(row.get('at_s')):6.1f}s  {_weights(row.get('weights'))}  "
        f"{row.get('verdict', '?')!s} (window {_num(row.get('window_s')):.1f}s)",
        f"blue  {_color(row.get('blue'))}",
        f"green {_color(row.get('green'))}",
        *reason,
    ]
    return f"\n{STEP_INDENT}".join(lines)


def _steps(table: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    steps = table.get("steps")
    return [s for s in steps if isinstance(s, Mapping)] if isinstance(steps, list) else []


def render_deploy(table: Any, paint: Paint | None = None) -> list[str]:
    """The `[deploy]` section as text lines ([] when the report has none)."""
    if not isinstance(table, Mapping):
        return []
    paint = paint or Paint(False)
    outcome = str(table.get("outcome", "?"))
    out = [
        f"  {paint('█ DEPLOY', '1')}",
        "",
        f"    {table.get('strategy', '?')} through {table.get('router', '?')}:",
        f"    {paint(outcome.replace('_', ' '), _OUTCOME_COLORS.get(outcome, '0'))}, "
        f"final weights {_final_weights(table)}, "
        f"on_exit = {table.get('on_exit', '?')}",
        f"    from {table.get('start', '?')} to {table.get('end', '?')}",
    ]
    notes = table.get("notes")
    if isinstance(notes, list):
        out.extend(f"    note: {n}" for n in notes)
    instances = table.get("instances")
    if isinstance(instances, Mapping) and instances:
        out.append("    instances (the router's own counts, this run):")
        out.extend(
            f"      {name}: {_instance(v if isinstance(v, Mapping) else {})}"
            for name, v in instances.items()
        )
    out.extend(_render_fleet(table.get("fleet")))
    steps = _steps(table)
    if steps:
        out.append("")
        out.extend(line for s in steps for line in f"    {render_step(s)}".splitlines())
    events = table.get("events")
    if isinstance(events, list):
        wanted = [
            e for e in events if isinstance(e, Mapping) and "analysis" not in str(e.get("kind"))
        ]
        if wanted:
            out.append("")
            out.extend(
                f"    {_num(e.get('at_s')):6.1f}s  {e.get('kind', '?')}: {e.get('message', '')}"
                for e in wanted
            )
    return out


def _instance(v: Mapping[str, Any]) -> str:
    """`1,234 requests, 5 5xx, 0 connection errors` (older reports: `N errors`)."""
    text = f"{int(_num(v.get('requests'))):,} requests"
    if "status_5xx" not in v:
        return f"{text}, {int(_num(v.get('errors'))):,} errors"
    return (
        f"{text}, {int(_num(v.get('status_5xx'))):,} 5xx, "
        f"{int(_num(v.get('connection_errors'))):,} connection errors"
    )


def _render_fleet(fleet: Any) -> list[str]:
    """`instances: peak 4, lowest serving 3; serving 3+0 → 3+1 → ...` (blue+green)."""
    if not isinstance(fleet, Mapping):
        return []
    moves = [c for c in fleet.get("capacity", ()) if isinstance(c, Mapping)]
    path = " → ".join(f"{int(_num(c.get('blue')))}+{int(_num(c.get('green')))}" for c in moves)
    return [
        f"    instances: peak {int(_num(fleet.get('peak_instances')))}, lowest serving "
        f"{int(_num(fleet.get('lowest_serving')))}; serving (blue+green) {path or '–'}"
    ]


def _summary(table: Any) -> dict[str, str]:
    if not isinstance(table, Mapping):
        return {"rollout": "none"}
    steps = _steps(table)
    verdicts = [str(s.get("verdict")) for s in steps]
    last_green = steps[-1].get("green") if steps else None
    fleet = table.get("fleet")
    fleet = fleet if isinstance(fleet, Mapping) else {}
    cost = (
        {"peak/lowest instances": f"{fleet.get('peak_instances')}/{fleet.get('lowest_serving')}"}
        if fleet
        else {}
    )
    return {
        "rollout": f"{table.get('strategy', '?')} via {table.get('router', '?')}",
        "outcome": str(table.get("outcome", "?")).replace("_", " "),
        "final weights": _weights(table.get("final_weights")),
        "windows judged": str(len(steps)),
        "passed/failed/inconcl.": (
            f"{verdicts.count('passed')}/{verdicts.count('failed')}/"
            f"{verdicts.count('inconclusive')}"
        ),
        "last green window": _color(last_green) if last_green else "-",
        **cost,
    }


def render_deploy_pair(base: Any, new: Any, paint: Paint | None = None) -> list[str]:
    """Two rollouts side by side ([] when neither report has one)."""
    if not isinstance(base, Mapping) and not isinstance(new, Mapping):
        return []
    paint = paint or Paint(False)
    a, b = _summary(base), _summary(new)
    keys: Sequence[str] = list(dict.fromkeys([*a, *b]))
    out = [f"  {paint('█ DEPLOY', '1')}", f"    {'':<24}{'base':<44}new"]
    for k in keys:
        out.append(f"    {k:<24}{a.get(k, '-'):<44}{b.get(k, '-')}")
    return out
