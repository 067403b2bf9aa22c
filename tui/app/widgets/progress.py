"""Where the run is in its shape: state, a progress bar, the current stage and time left.

Time left comes from the executor's own progress (which excludes pauses), not
from the wall clock, so a paused run does not count down.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text
from textual.widgets import Static

from engine.durations import clock
from engine.load.executors import ExecutorConfig
from engine.load.run import Snapshot
from engine.load.states import RunState, state_label
from tui.app.widgets.hockey import edges, rate_label, step_points

BAR = 16
_STATE_MARKS = {
    RunState.READY: ("○ ready", "dim"),
    RunState.RUNNING: ("● running", "green"),
    RunState.PAUSED: ("⏸ paused", "yellow"),
    RunState.STOPPING: ("■ stopping", "yellow"),
    RunState.FINISHED: ("■ finished", "bold"),
}


def stage_text(cfg: ExecutorConfig, progress: float) -> str:
    """`stage 2/3: 10 → 200/s` for ramping executors, the executor's own words otherwise."""
    return cfg.kind.progress_label(cfg, progress)


def scenarios_text(snapshot: Snapshot | None) -> str:
    """`2 of 3 scenarios running` for a run of several (each has its own stage)."""
    rows = snapshot.scenarios if snapshot is not None else ()
    if not rows:
        return "scenarios"
    running = sum(r.state == "running" for r in rows)
    return f"{running} of {len(rows)} scenarios running"


def scales_text(scale: float, scales: Mapping[str, float]) -> str:
    """The targets steered by hand: `target ×1.10`, or a scenario's `buy ×0.80`."""
    parts = [f"target ×{scale:.2f}"] if abs(scale - 1.0) > 1e-6 else []
    parts += [f"{name} ×{s:.2f}" for name, s in scales.items() if abs(s - scale) > 1e-6]
    return "  ".join(parts)


def search_text(snapshot: Snapshot | None, state: RunState) -> str:
    """`search step 5: 300/s · holds 200/s · fails 400/s`: where a capacity search is (it
    has no planned length: it ends when it has its answer). Fits 80 columns."""
    steps = snapshot.capacity_steps if snapshot is not None else ()
    parts = []
    if snapshot is not None and state in (RunState.RUNNING, RunState.PAUSED):
        parts.append(f"step {len(steps) + 1}: {rate_label(snapshot.row.target)}")
    held, failed = edges(step_points(steps))
    if held is not None:
        parts.append(f"holds {rate_label(held)}")
    if failed is not None:
        parts.append(f"fails {rate_label(failed)}")
    return "search " + (" · ".join(parts) or "starting")


def status_text(
    snapshot: Snapshot | None,
    cfg: ExecutorConfig | None,
    state: RunState,
    scale: float = 1.0,
    scales: Mapping[str, float] | None = None,
    *,
    search: bool = False,
) -> Text:
    """`cfg`: the run's one executor; None for several scenarios. `search`: a capacity
    run, whose rate the search steers (not a shape, not by hand)."""
    mark, style = _STATE_MARKS.get(state, (state, ""))
    if state is RunState.FINISHED and snapshot is not None:  # not `finished` after a Ctrl+C
        mark = f"■ {state_label(state, snapshot.stop_reason)}"
    out = Text()
    out.append(mark, style=style)
    progress = snapshot.progress if snapshot is not None else 0.0
    elapsed = snapshot.elapsed if snapshot is not None else 0.0
    if search:
        out.append(f"  {clock(elapsed)}  {search_text(snapshot, state)}")
        return out
    filled = round(progress * BAR)
    out.append(f"  {clock(elapsed)} ")
    out.append("█" * filled, style="cyan")
    out.append("░" * (BAR - filled), style="dim")
    if cfg is None:
        out.append(f" {progress:4.0%}  {scenarios_text(snapshot)}")
    else:
        out.append(f" {progress:4.0%}  {stage_text(cfg, progress)}")
        if not cfg.kind.iteration_based and state != RunState.FINISHED:
            out.append(f"  {clock(cfg.planned_duration * (1 - progress))} left", style="dim")
    if steered := scales_text(scale, scales or {}):
        out.append(f"  {steered}", style="bold yellow")
    return out


class StageProgress(Static):
    def show(
        self,
        snapshot: Snapshot | None,
        cfg: ExecutorConfig | None,
        state: RunState,
        scale: float = 1.0,
        scales: Mapping[str, float] | None = None,
        *,
        search: bool = False,
    ) -> None:
        """`scale`: the target multiplier as the user set it (shown before the engine
        confirms); `scales`: a scenario's own; `search`: a capacity run."""
        text = status_text(snapshot, cfg, state, scale, scales, search=search)
        self.update(text, layout=False)  # always one line
