"""Where the run is in its shape: state, a progress bar, the current stage and time left.

Time left comes from the executor's own progress (which excludes pauses), not
from the wall clock, so a paused run does not count down.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from engine.load import executors as ex
from engine.load.executors import ExecutorConfig
from engine.load.run import Snapshot

BAR = 16
_STATE_MARKS = {
    "ready": ("○ ready", "dim"),
    "running": ("● running", "green"),
    "paused": ("⏸ paused", "yellow"),
    "stopping": ("■ stopping", "yellow"),
    "finished": ("■ finished", "bold"),
}


def clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def stage_text(cfg: ExecutorConfig, progress: float) -> str:
    """`stage 2/3: 10 → 200/s` for ramping executors, the executor's own words otherwise."""
    if cfg.executor in (ex.SHARED_ITERATIONS, ex.PER_VU_ITERATIONS):
        total = cfg.iterations * (cfg.vus if cfg.executor == ex.PER_VU_ITERATIONS else 1)
        return f"{round(progress * total):,}/{total:,} iterations"
    if cfg.executor == ex.CONSTANT_VUS:
        return f"{cfg.vus} VUs"
    if cfg.executor == ex.CONSTANT_ARRIVAL_RATE:
        return f"{cfg.rate / cfg.time_unit:g}/s"
    unit = " VUs" if cfg.executor == ex.RAMPING_VUS else "/s"
    div = 1.0 if cfg.executor == ex.RAMPING_VUS else cfg.time_unit
    start = cfg.start_vus if cfg.executor == ex.RAMPING_VUS else cfg.start_rate
    t = progress * cfg.planned_duration
    t0, prev = 0.0, float(start)
    for i, stage in enumerate(cfg.stages):
        if t < t0 + stage.duration or i == len(cfg.stages) - 1:
            a, b = prev / div, stage.target / div
            shape = f"hold {b:g}{unit}" if a == b else f"{a:g} → {b:g}{unit}"
            return f"stage {i + 1}/{len(cfg.stages)}: {shape}"
        t0 += stage.duration
        prev = stage.target
    return ""


def status_text(
    snapshot: Snapshot | None, cfg: ExecutorConfig, state: str, scale: float = 1.0
) -> Text:
    mark, style = _STATE_MARKS.get(state, (state, ""))
    out = Text()
    out.append(mark, style=style)
    progress = snapshot.progress if snapshot is not None else 0.0
    elapsed = snapshot.elapsed if snapshot is not None else 0.0
    filled = round(progress * BAR)
    out.append(f"  {clock(elapsed)} ")
    out.append("█" * filled, style="cyan")
    out.append("░" * (BAR - filled), style="dim")
    out.append(f" {progress:4.0%}  {stage_text(cfg, progress)}")
    if cfg.executor not in (ex.SHARED_ITERATIONS, ex.PER_VU_ITERATIONS) and state != "finished":
        out.append(f"  {clock(cfg.planned_duration * (1 - progress))} left", style="dim")
    if abs(scale - 1.0) > 1e-6:
        out.append(f"  target ×{scale:.2f}", style="bold yellow")
    return out


class StageProgress(Static):
    def show(
        self, snapshot: Snapshot | None, cfg: ExecutorConfig, state: str, scale: float = 1.0
    ) -> None:
        """`scale`: the target multiplier as the user set it (shown before the engine confirms)."""
        self.update(status_text(snapshot, cfg, state, scale), layout=False)  # always one line
