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

from engine.exit_codes import (
    EXIT_ERROR,
    EXIT_GATE_REFUSED,
    EXIT_ROLLED_BACK,
    EXIT_THRESHOLDS,
    EXIT_UNFINISHED,
)
from engine.report.deploy_gates import HookRow, MetricRow, render_gates
from engine.report.text import Paint, fmt_ms

__all__ = [
    "ColorWindow",
    "DeployEventRow",
    "DeployRecord",
    "FleetRow",
    "MirrorExampleRow",
    "MirrorWindow",
    "Outcome",
    "StepRow",
    "deploy_table",
    "read_step_traffic",
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
    GATE_REFUSED = "gate_refused"  # a pre_rollout or pre_promotion hook refused (hooks: why)


_OUTCOME_COLORS = {
    "promoted": "32",
    "rolled_back": "31",
    "stopped": "33",
    "unfinished": "31",
    "router_failed": "31",
    "running": "33",
    "gate_refused": "31",
}
# A headless run's exit code by its rollout's outcome (README: "Exit codes").
_OUTCOME_EXIT = {
    Outcome.ROUTER_FAILED: EXIT_ERROR,
    Outcome.ROLLED_BACK: EXIT_ROLLED_BACK,
    Outcome.UNFINISHED: EXIT_UNFINISHED,
    Outcome.GATE_REFUSED: EXIT_GATE_REFUSED,
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
class MirrorExampleRow:
    """A mirrored pair whose answers differed: where, and both statuses (0: no answer)."""

    path: str
    blue_status: int = 0
    green_status: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "blue_status": self.blue_status,
            "green_status": self.green_status,
        }


@dataclass(frozen=True)
class MirrorWindow:
    """A mirror step's window: the pairs the router compared, how many differed, and
    each color's p99 on the same requests."""

    mirrored: int = 0
    status_mismatch: int = 0
    body_mismatch: int = 0
    errors: int = 0
    blue_p99_ms: float = 0.0
    green_p99_ms: float = 0.0
    examples: tuple[MirrorExampleRow, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mirrored": self.mirrored,
            "status_mismatch": self.status_mismatch,
            "body_mismatch": self.body_mismatch,
            "errors": self.errors,
            "blue_p99_ms": round(self.blue_p99_ms, 3),
            "green_p99_ms": round(self.green_p99_ms, 3),
        }
        if self.examples:
            out["examples"] = [e.as_dict() for e in self.examples]
        return out


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
    # issue 30: each cohort's figures (`green+beta`), and a mirror step's pairs
    cohorts: Mapping[str, ColorWindow] = field(default_factory=dict)
    mirror: MirrorWindow | None = None

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
        if self.cohorts:
            row["cohorts"] = {name: c.as_dict() for name, c in self.cohorts.items()}
        if self.mirror is not None:
            row["mirror"] = self.mirror.as_dict()
        return row


def read_step_traffic(s: Mapping[str, Any]) -> dict[str, Any]:
    """A step row's `cohorts` and `mirror` back from a report (StepRow's keyword
    arguments); what is not a table of numbers is left out, as older reports lack both."""

    def numbers(cls: type, t: Any) -> dict[str, Any]:
        if not isinstance(t, Mapping):
            return {}
        names = set(cls.__dataclass_fields__) - {"path", "examples"}
        kinds = {f: int if f in _INT_FIELDS else float for f in names}
        return {
            k: kinds[k](v)
            for k, v in t.items()
            if k in kinds and isinstance(v, int | float) and not isinstance(v, bool)
        }

    out: dict[str, Any] = {}
    cohorts = s.get("cohorts")
    if isinstance(cohorts, Mapping):
        out["cohorts"] = {
            str(n): ColorWindow(**numbers(ColorWindow, c)) for n, c in cohorts.items()
        }
    m = s.get("mirror")
    if isinstance(m, Mapping):
        examples = tuple(
            MirrorExampleRow(str(e.get("path", "?")), **numbers(MirrorExampleRow, e))
            for e in m.get("examples", ())
            if isinstance(e, Mapping)
        )
        out["mirror"] = MirrorWindow(**numbers(MirrorWindow, m), examples=examples)
    return out


_INT_FIELDS = frozenset(
    {"requests", "failed", "mirrored", "status_mismatch", "body_mismatch", "errors"}
    | {"blue_status", "green_status"}
)


@dataclass(frozen=True)
class DeployEventRow:
    at_s: float = 0.0
    kind: str = "?"
    message: str = ""


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
    metrics: tuple[MetricRow, ...] = ()  # [[deploy.metrics]]: values and verdicts (issue 31)
    hooks: tuple[HookRow, ...] = ()  # [deploy.hooks] runs: result, output, time


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
    if record.metrics:
        table["metrics"] = [m.as_dict() for m in record.metrics]
    if record.hooks:
        table["hooks"] = [h.as_dict() for h in record.hooks]
    return table


# ----------------------------------------------------------------------- as text


def _weights(blue: int | None, green: int | None) -> str:
    return f"{blue}:{green}" if blue is not None and green is not None else "?"


def _color(c: ColorWindow) -> str:
    """As the report keeps it (rounded), so the live line and `report show` read alike."""
    p50, p95, p99 = (fmt_ms(round(ms, 3)) for ms in (c.p50_ms, c.p95_ms, c.p99_ms))
    return f"{c.requests:>7,} req {round(c.error_rate, 6):>7.2%} err p50 {p50} p95 {p95} p99 {p99}"


STEP_INDENT = " " * 10  # a step's further lines, under its first one's text
STEP_WIDTH = 80 - 10  # the further lines' text, after STEP_INDENT


def render_step(row: StepRow) -> str:
    """One judged window, as `surge run` prints it when it is judged: its time, weights,
    verdict and window, then each color's figures and the reason (a problem a line) on
    lines of their own, so each fits 80 columns."""
    # one problem (or a note, "vs baseline (...)") a line, kept whole where it fits
    parts = re.split(r"; |, (?=vs )", row.reason)
    reason = [
        line
        for i, part in enumerate(p for p in parts if p)
        for line in textwrap.wrap(
            ("— " if i == 0 else "  ") + part, STEP_WIDTH, break_long_words=False
        )
    ]
    lines = [
        f"{round(row.at_s, 3):6.1f}s  {_weights(row.blue_weight, row.green_weight)}  "
        f"{row.verdict} (window {round(row.window_s, 3):.1f}s)",
        f"blue  {_color(row.blue)}",
        f"green {_color(row.green)}",
        *(f"{_cohort_label(name):<6}{_color(c)}" for name, c in row.cohorts.items()),
        *_mirror_lines(row.mirror),
        *reason,
    ]
    return f"\n{STEP_INDENT}".join(lines)


def _cohort_label(key: str) -> str:
    """`+beta` for green's cohort beta (its lines are under green's), `blue+qa` for blue's."""
    color, _, cohort = key.partition("+")
    return f"+{cohort}" if color == "green" else key


def _mirror_lines(m: MirrorWindow | None) -> list[str]:
    """A mirror step's pairs: how many, how many differed, both p99s, a few examples."""
    if m is None:
        return []
    p99 = f"p99 blue {fmt_ms(round(m.blue_p99_ms, 3))} green {fmt_ms(round(m.green_p99_ms, 3))}"
    return [
        f"mirror {m.mirrored:,} pairs: {m.status_mismatch:,} status and {m.body_mismatch:,} "
        f"body mismatches, {m.errors:,} errors",
        f"       {p99}",
        *(
            f"  {e.path[:40]}: blue {e.blue_status}, green {e.green_status or 'no answer'}"
            for e in m.examples
        ),
    ]


def render_deploy(record: DeployRecord | None, paint: Paint | None = None) -> list[str]:
    """The `[deploy]` section as text lines ([] when the report has none)."""
    if record is None:
        return []
    paint = paint or Paint(False)
    outcome = record.outcome.value
    final = (
        f"{_weights(record.blue_weight, record.green_weight)} (blue:green)"
        if record.blue_weight is not None and record.green_weight is not None
        else "unknown (the router confirmed none)"
    )
    out = [
        f"  {paint('█ DEPLOY', '1')}",
        "",
        f"    {record.strategy} through {record.router}:",
        f"    {paint(outcome.replace('_', ' '), _OUTCOME_COLORS.get(outcome, '0'))}, "
        f"final weights {final}, on_exit = {record.on_exit}",
        f"    from {record.start} to {record.end}",
    ]
    out.extend(f"    note: {n}" for n in record.notes)
    if record.instances:
        out.append("    instances (the router's own counts, this run):")
        out.extend(f"      {name}: {_instance(v)}" for name, v in record.instances.items())
    out.extend(_render_fleet(record.fleet))
    out.extend(render_gates(record.metrics, record.hooks))
    if record.steps:
        out.append("")
        out.extend(line for s in record.steps for line in f"    {render_step(s)}".splitlines())
    wanted = [e for e in record.events if "analysis" not in e.kind]
    if wanted:
        out.append("")
        out.extend(f"    {round(e.at_s, 3):6.1f}s  {e.kind}: {e.message}" for e in wanted)
    return out


def _instance(v: Mapping[str, int]) -> str:
    """`1,234 requests, 5 5xx, 0 connection errors` (older reports: `N errors`)."""
    text = f"{v.get('requests', 0):,} requests"
    if "status_5xx" not in v:
        return f"{text}, {v.get('errors', 0):,} errors"
    return f"{text}, {v['status_5xx']:,} 5xx, {v.get('connection_errors', 0):,} connection errors"


def _render_fleet(fleet: FleetRow | None) -> list[str]:
    """`instances: peak 4, lowest serving 3; serving 3+0 → 3+1 → ...` (blue+green)."""
    if fleet is None:
        return []
    path = " → ".join(f"{b}+{g}" for _, b, g in fleet.capacity)
    return [
        f"    instances: peak {fleet.peak}, lowest serving "
        f"{fleet.lowest}; serving (blue+green) {path or '–'}"
    ]


def _summary(record: DeployRecord | None) -> dict[str, str]:
    if record is None:
        return {"rollout": "none"}
    verdicts = [s.verdict for s in record.steps]
    fleet = record.fleet
    cost = {"peak/lowest instances": f"{fleet.peak}/{fleet.lowest}"} if fleet else {}
    last = record.steps[-1] if record.steps else None
    return {
        "rollout": f"{record.strategy} via {record.router}",
        "outcome": record.outcome.value.replace("_", " "),
        "final weights": _weights(record.blue_weight, record.green_weight),
        "windows judged": str(len(record.steps)),
        "passed/failed/inconcl.": (
            f"{verdicts.count('passed')}/{verdicts.count('failed')}/"
            f"{verdicts.count('inconclusive')}"
        ),
        "last green window": _color(last.green) if last else "-",
        **cost,
    }


def render_deploy_pair(
    base: DeployRecord | None, new: DeployRecord | None, paint: Paint | None = None
) -> list[str]:
    """Two rollouts side by side ([] when neither report has one)."""
    if base is None and new is None:
        return []
    paint = paint or Paint(False)
    a, b = _summary(base), _summary(new)
    keys: Sequence[str] = list(dict.fromkeys([*a, *b]))
    out = [f"  {paint('█ DEPLOY', '1')}", f"    {'':<24}{'base':<44}new"]
    for k in keys:
        out.append(f"    {k:<24}{a.get(k, '-'):<44}{b.get(k, '-')}")
    return out
