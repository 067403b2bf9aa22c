"""The record of a rollout's metrics and hooks (issue 31), as the report keeps them.

Values only, beside `DeployRecord` (engine.report.deploy_section), which holds them:
each `[[deploy.metrics]]` metric with every measurement and its verdict per judged
window, and each hook run with its result, exit status, bounded output and time.
A report without either writes and reads exactly as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "HookRow",
    "MeasurementRow",
    "MetricRow",
    "MetricWindowRow",
    "hook_rows",
    "metric_rows",
    "render_gates",
]


@dataclass(frozen=True)
class MeasurementRow:
    """One measurement: when (seconds since the rollout started), the number (None for
    an error) and Argo's phase: successful, failed, inconclusive or error."""

    at_s: float
    value: float | None
    phase: str
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {"at_s": round(self.at_s, 3), "phase": self.phase}
        if self.value is not None:
            row["value"] = self.value
        if self.message:
            row["message"] = self.message
        return row


@dataclass(frozen=True)
class MetricWindowRow:
    """A metric's verdict on one judged window: passed, failed or inconclusive."""

    at_s: float
    verdict: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"at_s": round(self.at_s, 3), "verdict": self.verdict, "reason": self.reason}


@dataclass(frozen=True)
class MetricRow:
    name: str
    provider: str  # prometheus or web
    source: str  # the URL and the query or JSON path
    success: str = ""
    failure: str = ""
    measurements: tuple[MeasurementRow, ...] = ()
    windows: tuple[MetricWindowRow, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {"name": self.name, "provider": self.provider, "source": self.source}
        if self.success:
            row["success"] = self.success
        if self.failure:
            row["failure"] = self.failure
        row["measurements"] = [m.as_dict() for m in self.measurements]
        row["windows"] = [w.as_dict() for w in self.windows]
        return row


@dataclass(frozen=True)
class HookRow:
    """One hook run: which hook, what it ran, when and for how long, its result
    (allowed, refused, error, timed out, cancelled), exit status and output (bounded)."""

    hook: str
    target: str
    at_s: float
    seconds: float
    result: str
    exit_status: int | None = None
    output: str = ""

    @property
    def allowed(self) -> bool:
        return self.result == "allowed"

    @property
    def status_text(self) -> str:
        """`exit 3` (a command), `HTTP 403` (a webhook), "" (none: killed, unreachable)."""
        if self.exit_status is None:
            return ""
        webhook = self.target.startswith(("http://", "https://"))
        return f"{'HTTP' if webhook else 'exit'} {self.exit_status}"

    def as_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "hook": self.hook,
            "target": self.target,
            "at_s": round(self.at_s, 3),
            "seconds": round(self.seconds, 3),
            "result": self.result,
        }
        if self.exit_status is not None:
            row["exit_status"] = self.exit_status
        if self.output:
            row["output"] = self.output
        return row


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _rows(value: Any) -> list[Mapping[str, Any]]:
    return [r for r in value if isinstance(r, Mapping)] if isinstance(value, list) else []


def metric_rows(value: Any) -> tuple[MetricRow, ...]:
    """`[[deploy.metrics]]` of a report read back (what it cannot read, it leaves out)."""
    return tuple(
        MetricRow(
            str(m.get("name", "?")),
            str(m.get("provider", "?")),
            str(m.get("source", "")),
            str(m.get("success", "")),
            str(m.get("failure", "")),
            tuple(
                MeasurementRow(
                    _num(r.get("at_s")) or 0.0,
                    _num(r.get("value")),
                    str(r.get("phase", "?")),
                    str(r.get("message", "")),
                )
                for r in _rows(m.get("measurements"))
            ),
            tuple(
                MetricWindowRow(
                    _num(r.get("at_s")) or 0.0, str(r.get("verdict", "?")), str(r.get("reason", ""))
                )
                for r in _rows(m.get("windows"))
            ),
        )
        for m in _rows(value)
    )


def hook_rows(value: Any) -> tuple[HookRow, ...]:
    """`[[deploy.hooks]]` of a report read back."""
    return tuple(
        HookRow(
            str(h.get("hook", "?")),
            str(h.get("target", "")),
            _num(h.get("at_s")) or 0.0,
            _num(h.get("seconds")) or 0.0,
            str(h.get("result", "?")),
            int(h["exit_status"]) if _num(h.get("exit_status")) is not None else None,
            str(h.get("output", "")),
        )
        for h in _rows(value)
    )


def render_gates(metrics: tuple[MetricRow, ...], hooks: tuple[HookRow, ...]) -> list[str]:
    """`report show`'s lines: each metric's verdicts and values, each hook's result."""
    out: list[str] = []
    for m in metrics:
        verdicts = [w.verdict for w in m.windows]
        values = [f"{r.value:g}" if r.value is not None else r.phase for r in m.measurements]
        shown = ", ".join(values[-8:]) + (" ..." if len(values) > 8 else "")
        out.append(
            f"    metric {m.name} ({m.provider}): {verdicts.count('passed')}/"
            f"{verdicts.count('failed')}/{verdicts.count('inconclusive')} windows "
            f"passed/failed/inconclusive; values {shown or '–'}"
        )
        out.extend(f"      {round(w.at_s, 3):6.1f}s  {w.verdict}: {w.reason}" for w in m.windows)
    for h in hooks:
        status = f", {h.status_text}" if h.status_text else ""
        out.append(
            f"    hook {h.hook} ({h.target}) at {round(h.at_s, 3):.1f}s: "
            f"{h.result}{status}, {round(h.seconds, 3):.2f}s"
        )
        if h.output:
            out.append(f"      output: {h.output.strip().splitlines()[-1][:100]}")
    return out
