"""The run screen: live plots and figures, and the keys that steer the run.

The engine runs in a worker on this screen (`group="engine"`); its snapshots
arrive as SnapshotReceived messages, which collapse when the UI falls behind,
so neither side ever waits for the other. Commands are plain method calls on
the controller and take effect at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from time import monotonic
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker, WorkerState

from engine.deploy.fleet import Fleet
from engine.deploy.strategies import EventKind, Phase
from engine.load.executors import ExecutorConfig
from engine.load.model import ThresholdState
from engine.load.run import RunPlan, Snapshot
from engine.load.states import RunState, StopCause, StopReason
from engine.report.summary import CPU_WARN
from engine.run_session import SessionEnd
from tui.app.layout import NARROW, fit_footer
from tui.app.messages import RunCrashed, RunFinished, SnapshotReceived
from tui.app.screens.instance_logs import InstanceLogScreen
from tui.app.screens.modals import SaveModal, TargetModal
from tui.app.screens.start_instances import StartInstancesModal
from tui.app.session import ConsoleSession
from tui.app.widgets.checks import ChecksList
from tui.app.widgets.cpu import CpuIndicator
from tui.app.widgets.deploy import DeployPanel
from tui.app.widgets.figures import FiguresPanel
from tui.app.widgets.hockey import CAPACITY, RATE_TYPES, HockeyPlot, broke
from tui.app.widgets.insights import InsightList
from tui.app.widgets.observed import ObservedPlot
from tui.app.widgets.plots import (
    REDRAW_S,
    LatencyPlot,
    LoadPlot,
    ThroughputPlot,
    TimePlot,
    scenario_color,
)
from tui.app.widgets.progress import StageProgress
from tui.app.widgets.scenarios import ScenarioTable
from tui.app.widgets.statuses import StatusTable
from tui.app.widgets.steps import StepTable
from tui.app.widgets.thresholds import ThresholdList

NUDGE = 0.1  # + and - move the target by 10% of the plan
STEP_FIGURES_EVERY_S = 0.25  # as often as the plots redraw
# Plot redraws while the generator is saturated: building three plotext figures a
# second took 6-9% of the core the worker needed (bench/app_overhead.py).
SATURATED_REDRAW_S = 3.0
MIN_SCALE = 0.1
STEERABLE = ("pause", "resume", "nudge", "target", "stop", "abort", "save")
DEPLOY_ACTIONS = ("deploy_toggle", "deploy_promote", "deploy_rollback", "deploy_nudge")
# Paired keys share one footer entry (`+- ±10%`): at 80 columns, with a rollout, the
# footer must still hold D, P and R.
SCALE_KEYS = Binding.Group("±10%", compact=True)
GREEN_KEYS = Binding.Group("green ∓10%", compact=True)
# The run's own plots (a rollout's panel has plots of its own, which it draws itself).
RUN_PLOTS = "#run-plots > TimePlot, #latency-row > TimePlot"


def scenario_names(plan: RunPlan) -> tuple[str, ...]:
    return tuple(s.name for s in plan.work.scenarios)


def single_executor(plan: RunPlan) -> ExecutorConfig | None:
    """The executor of a run of one scenario; None for several (each has its own)."""
    scenarios = plan.work.scenarios
    return scenarios[0].executor if len(scenarios) == 1 else None


def planned_length(plan: RunPlan) -> float:
    """How long the plots' time axis is planned: the last scenario's end (its startTime
    and its planned duration), or 0 when an iteration executor's length is open (its
    maxDuration is a cap, not a length: the axis grows; a capacity search's neither)."""
    open_ended = any(s.executor.kind.iteration_based for s in plan.work.scenarios)
    if open_ended or plan.test_type == CAPACITY:
        return 0.0
    return max(s.start_time + s.executor.planned_duration for s in plan.work.scenarios)


class RunScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "begin", "Start", id="run.start"),
        Binding("escape", "back", "Back", id="run.back"),
        Binding("p", "pause", "Pause", id="run.pause"),
        Binding("p", "resume", "Resume", id="run.resume"),
        Binding(
            "plus,equals_sign",
            "nudge(1)",
            "+10%",
            key_display="+",
            id="run.raise",
            group=SCALE_KEYS,
        ),
        Binding("minus", "nudge(-1)", "-10%", key_display="-", id="run.lower", group=SCALE_KEYS),
        Binding("t", "target", "Target", id="run.target"),
        Binding("s", "stop", "Stop", id="run.stop"),
        Binding("x", "abort", "Abort", id="run.abort"),
        Binding("w", "save", "Save", id="run.save"),
        Binding("q", "app.quit", "Quit", id="run.quit"),
        Binding("D", "deploy_toggle", "Rollout", id="run.deploy"),
        Binding("P", "deploy_promote", "Promote", id="run.promote"),
        Binding("R", "deploy_rollback", "Rollback", id="run.rollback"),
        Binding("L", "instances", "Logs", id="run.instances"),
        Binding("v", "side", "Panels", id="run.side"),
        Binding("o", "observed", "Server", id="run.observed"),
        Binding(
            "left_square_bracket",
            "deploy_nudge(-1)",
            "Green -10%",
            key_display="[",
            id="run.green_down",
            group=GREEN_KEYS,
        ),
        Binding(
            "right_square_bracket",
            "deploy_nudge(1)",
            "Green +10%",
            key_display="]",
            id="run.green_up",
            group=GREEN_KEYS,
        ),
    ]

    def __init__(
        self,
        session: ConsoleSession,
        *,
        autostart: bool = True,
        now: Callable[[], dt.datetime] = dt.datetime.now,
        confirmed: set[tuple[str, ...]] | None = None,
    ) -> None:
        """`confirmed`: the app's record of the instance commands the user accepted this
        session (asked once per profile, see StartInstancesModal)."""
        super().__init__()
        self.session = session
        self.confirmed = confirmed if confirmed is not None else set()
        self._preparing = False
        self.autostart = autostart
        self.now = now
        self.snapshots_seen = 0
        self.scale = 1.0
        self._told: set[str] = set()
        self._state = RunState.READY
        self._ended: RunFinished | RunCrashed | None = None
        self._steps_due = False
        self._steps_at = -STEP_FIGURES_EVERY_S
        self._deploy_told = 0  # events already announced (promotion, rollback)
        self.scales: dict[str, float] = {}  # a scenario's own target multiplier, by name
        self.paused: set[str] = set()  # scenarios paused on their own
        self._ended_at: dict[str, float] = {}  # when each scenario was first seen done
        self.observing: bool | None = None  # o: the server's panel shown; None: as the width says
        self._had_observed = False

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        plan = self.session.setup.plan
        names = scenario_names(plan)
        cfg = single_executor(plan)
        yield Header(show_clock=False)
        with Horizontal(id="run-status"):
            yield StageProgress(id="progress")
            yield CpuIndicator(id="cpu")
        yield Static("", id="run-banner")
        if len(names) > 1:
            colors = [scenario_color(i) for i in range(len(names))]
            yield ScenarioTable(names, colors, id="scenarios")
        with Horizontal(id="run-body"):
            with Vertical(id="run-plots"):
                with Horizontal(id="latency-row"):
                    yield LatencyPlot(id="latency-plot")
                    yield ObservedPlot(id="observed-plot")
                yield ThroughputPlot(id="rate-plot")
                open_model = cfg is not None and cfg.open_model  # several: VUs, which add
                yield LoadPlot(open_model=open_model, id="load-plot")
                if plan.test_type in RATE_TYPES:
                    yield HockeyPlot(id="hockey-plot")
                if self.session.deploy is not None:
                    yield DeployPanel(self.session.deploy, id="deploy")
            with VerticalScroll(id="run-side"):
                yield FiguresPanel(id="figures")
                yield ThresholdList(id="thresholds")
                yield InsightList(id="insights")
                yield ChecksList(id="checks")
                yield StatusTable(id="statuses")
                yield StepTable(id="steps")
        yield Footer()

    HELP = (
        "At 80x24 the side panel scrolls: v brings its next part into view (thresholds, "
        "findings, checks, statuses, steps, figures); Tab, then PageDown, scrolls it too. "
        "o shows the server's side (the observed series, each to its peak) in the latency "
        "plot's place at 80x24, beside it when wider, and hides it again."
    )
    SIDE_PARTS = ("#thresholds", "#insights", "#checks", "#statuses", "#steps", "#figures")
    _side = -1  # the part `v` showed last

    def on_resize(self) -> None:
        """At 80 columns a rollout's D, P and R need the footer's room: t, x and v leave it
        (and the ±10% keys, for the L of a rollout's instances); the keys still work and
        `?` lists them. w Save stays."""
        spare: tuple[str, ...] = ("run.observed",)
        if self.session.deploy is not None:
            spare = ("run.target", "run.abort", "run.side")
        if self._fleet is not None:
            spare += ("run.raise", "run.lower")
        fit_footer(self, spare=spare)
        self._show_observed()

    def action_side(self) -> None:
        """The side panel's next part at its top (checks, statuses, steps at 80x24); a
        part not shown (no findings yet) is passed over."""
        for _ in self.SIDE_PARTS:
            self._side = (self._side + 1) % len(self.SIDE_PARTS)
            part = self.query_one(self.SIDE_PARTS[self._side])
            if part.display:
                self.query_one("#run-side").scroll_to_widget(part, top=True, animate=False)
                return

    @property
    def has_observed(self) -> bool:
        """Whether the run has server-side series to show (they come with the snapshots)."""
        return bool(self.session.last is not None and self.session.last.observed)

    def action_observed(self) -> None:
        """Show or hide the server's panel (at 80x24 in the latency plot's place)."""
        if not self.has_observed:
            return
        self.observing = not self.has_class("-observed")
        self._show_observed()

    def _show_observed(self) -> None:
        """The panel is shown once there are series: beside the latency when the screen is
        wide, at 80 columns only when asked (o), then in the latency's place."""
        shown = self.observing if self.observing is not None else self.size.width >= NARROW
        self.set_class(self.has_observed and shown, "-observed")
        if self.has_observed != self._had_observed:
            self._had_observed = self.has_observed
            self.refresh_bindings()  # o joins the footer (wide) and the keys' help

    def on_mount(self) -> None:
        setup = self.session.setup
        kind = setup.type_label
        self.sub_title = f"{setup.profile.name} → {setup.plan.work.base_url} · {kind}"
        self.query_one(ThresholdList).show(
            [ThresholdState(t, True, None) for t in setup.plan.thresholds]  # not judged yet
        )
        self._show_status()
        names = scenario_names(setup.plan)
        self.set_class(len(names) > 1, "-scenarios")
        self.set_class(setup.plan.test_type in RATE_TYPES, "-rate")
        if len(names) > 1:
            for plot in self.query(RUN_PLOTS).results(TimePlot):
                plot.set_scenarios(names)
            self.query_one(ScenarioTable).focus()  # ↑ ↓ pick the scenario p, +, - and t steer
        if self.session.deploy is not None:
            self.query_one("#load-plot").display = False  # the deploy panel needs the room
        if self.autostart:
            self.action_begin()
        else:
            cfg = single_executor(setup.plan)
            shape = cfg.describe() if cfg is not None else f"{len(names)} scenarios"
            self._banner(f"ready: {shape}  (enter starts, esc goes back)")

    # ------------------------------------------------------------------- state
    @property
    def state(self) -> RunState:
        if self.session.result is not None:
            return RunState.FINISHED
        if self.session.controller is None:
            return RunState.READY
        return self.session.controller.state

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        state = self.state
        if action in ("begin", "back"):
            return state == RunState.READY
        if action in DEPLOY_ACTIONS:
            return self._deploy_allowed(action)
        if action == "instances":
            return self._fleet is not None
        if action == "observed":  # the key help's note names it before there are series
            return self.has_observed
        if state == RunState.READY and action in STEERABLE:
            return False  # hidden until the run starts
        if action == "pause":  # p is Pause while running, Resume while paused
            if state == RunState.RUNNING:
                return self.selected not in self.paused
            return False if state == RunState.PAUSED else None
        if action == "resume":
            return state == RunState.PAUSED or (
                state == RunState.RUNNING and self.selected in self.paused
            )
        if action == "save":
            return True if self.session.measured and state != RunState.FINISHED else None
        if action in STEERABLE:
            return True if state in (RunState.RUNNING, RunState.PAUSED) else None
        return True

    def _changed(self) -> None:
        """After a command or a snapshot: footer keys and status follow the state."""
        if self.state != self._state:
            self._state = self.state
            self.refresh_bindings()
        self._show_status()

    def _show_status(self) -> None:
        self.query_one(StageProgress).show(
            self.session.last,
            single_executor(self.session.setup.plan),
            self.state,
            self.scale,
            self.scales,
            search=self.session.setup.plan.test_type == CAPACITY,
        )

    @property
    def selected(self) -> str | None:
        """The scenario the steering keys act on: the scenario table's row; None: all."""
        tables = self.query(ScenarioTable)
        return tables.first().selected if tables else None

    @on(DataTable.RowHighlighted, "#scenarios")
    def _scenario_picked(self) -> None:
        """p reads Pause or Resume for the row now selected."""
        self.refresh_bindings()

    def _banner(self, text: str, *, warning: bool = False) -> None:
        banner = self.query_one("#run-banner", Static)
        banner.update(Text(text))
        banner.display = bool(text)
        banner.set_class(warning, "-warning")

    # ----------------------------------------------------------------- running
    @property
    def _fleet(self) -> Fleet | None:
        """The instances Surge runs for this rollout (colors given as recipes), if any."""
        deploy = self.session.deploy
        return None if deploy is None else deploy.fleet

    def action_begin(self) -> None:
        """Start the run; with recipes, blue's instances first (asked once per profile)."""
        if self.session.started or self._preparing:
            return
        deploy, fleet = self.session.deploy, self._fleet
        if deploy is None or fleet is None or fleet.launcher.running:
            self._begin()
            return
        key = (self.session.setup.profile.name, *fleet.launcher.commands())

        def started(ok: bool | None) -> None:
            self._preparing = False
            if getattr(self.app, "quitting", False):
                return  # the app's shutdown stops the instances
            if not ok:  # cancelled, or a health check failed: nothing runs, back to the picker
                self.app.pop_screen()
                return
            self.confirmed.add(key)
            self._begin()

        self._preparing = True
        self.app.push_screen(StartInstancesModal(deploy, ask=key not in self.confirmed), started)

    def _begin(self) -> None:
        self.session.observe(self._on_snapshot)
        self.session.begin(self.now())  # the controller; with `surge demo`, the rollout
        self.session.worker = self.run_engine()
        if self.session.rollout_started is not None:
            self._show_deploy()
        self._banner("")
        self._changed()

    @work(group="engine", exclusive=True, exit_on_error=False)
    async def run_engine(self) -> SessionEnd:
        """The whole run, through the session (which steps the rollout on every snapshot,
        as of that snapshot, before it reaches the screen: messages may collapse)."""
        ended = await self.session.run()
        self.post_message(RunFinished(ended.result))
        return ended

    def _on_snapshot(self, snapshot: Snapshot) -> None:
        """Called on the engine's side: package and post (with several scenarios, each
        one's timeline too, for the plots' lines per scenario)."""
        model = self.session.model
        lanes = {}
        if len(snapshot.scenarios) > 1:
            lanes = {name: tuple(lane.timeline) for name, lane in model.lanes.items()}
        self.post_message(SnapshotReceived(snapshot, tuple(model.timeline), lanes))

    def _update_steps(self) -> None:
        """Per-step figures at most every STEP_FIGURES_EVERY_S, the last one always shown.

        Each step costs two percentile walks of its histograms (a few ms): a burst
        of snapshots computes them once now and once when the burst is over.
        """
        wait = STEP_FIGURES_EVERY_S - (monotonic() - self._steps_at)
        if wait <= 0:
            self._show_steps()
        elif not self._steps_due:
            self._steps_due = True
            self.set_timer(wait, self._show_steps)

    def _show_steps(self) -> None:
        self._steps_due = False
        self._steps_at = monotonic()
        controller = self.session.controller
        if controller is None:
            return
        model = controller.model
        names = model.steps()
        steps = {n: model.figures((("step", n),)) for n in names} if len(names) > 1 else {}
        self.query_one(StepTable).show(steps)

    @on(SnapshotReceived)
    def _snapshot(self, message: SnapshotReceived) -> None:
        s = message.snapshot
        self.snapshots_seen += 1
        self.session.last = s
        self.scale = s.scale
        planned = planned_length(self.session.setup.plan)
        # A saturated generator shares its core with this display: redraw less then.
        every = SATURATED_REDRAW_S if s.cpu_percent > CPU_WARN else REDRAW_S
        marks = self._marks()
        spans = self._spans(s)
        self._show_explored(s)
        for plot in self.query(RUN_PLOTS).results(TimePlot):
            plot.show(message.timeline, planned, every, marks, message.lanes, spans)
        if len(s.scenarios) > 1:
            self.query_one(ScenarioTable).show(s.scenarios)
        if self.session.deploy is not None:
            self._show_deploy()
        self.query_one(FiguresPanel).show(s, message.timeline)
        self.query_one(ThresholdList).show(s.thresholds)
        self.query_one(InsightList).show(s.insights)
        self.query_one(ChecksList).show(s.checks)
        self.query_one(StatusTable).show(s.totals)
        self._update_steps()
        self.query_one(CpuIndicator).show(
            s.cpu_percent, max(len(s.worker_cpu), 1), s.worker_nodes, s.worker_cpu
        )
        self._tell(s)
        self._changed()

    def _show_explored(self, s: Snapshot) -> None:
        """What the rate plot and the server's panel draw at the next show: a capacity
        search's steps and the rate offered now; the observed series so far."""
        for hockey in self.query(HockeyPlot).results(HockeyPlot):
            running = s.state in (RunState.RUNNING, RunState.PAUSED) and not s.stop_reason
            hockey.broke = broke(s.stop_reason)
            hockey.show_steps(s.capacity_steps, s.row.target if running else None)
        if s.observed:
            self.query_one(ObservedPlot).set_series(s.observed)
            self._show_observed()

    def _spans(self, s: Snapshot) -> tuple[tuple[float, str], ...]:
        """Where each scenario started (its startTime) and ended, in its colour: lines on
        the plots. A timed executor ends where its plan does; an iteration executor when
        its iterations are done (first seen so: its maxDuration is only a cap)."""
        scenarios = self.session.setup.plan.work.scenarios
        out = []
        if not s.scenarios:  # a run of one: its start and end are the plot's
            return ()
        for i, (plan, row) in enumerate(zip(scenarios, s.scenarios, strict=True)):
            color = scenario_color(i)
            if row.state != "waiting":
                out.append((row.start_time, color))
            if row.state == "done":
                end = row.end_time
                if plan.executor.kind.iteration_based:
                    end = self._ended_at.setdefault(row.name, s.elapsed)
                out.append((end, color))
        return tuple(out)

    def _marks(self) -> tuple[float, ...]:
        """When the run was steered by hand: lines on the plots (a capacity search steers
        itself, a step at a time: its steps are on the rate plot instead)."""
        controller = self.session.controller
        searching = self.session.setup.plan.test_type == CAPACITY
        events = controller.steering.events if controller is not None and not searching else ()
        return tuple(e.t for e in events if e.bends)

    def _tell(self, s: Snapshot) -> None:
        """Say once, on screen, what the user must know: why it stopped, a dead target."""
        if s.stop_reason and "stop" not in self._told:
            self._told.add("stop")
            self._banner(f"stopping: {s.stop_reason}", warning=True)
            if s.stop_reason.kind in (StopReason.THRESHOLD, StopReason.BREAKING_POINT):
                self.notify(str(s.stop_reason), title="Run stopped", severity="warning", timeout=10)
        t = s.totals
        if t.requests and not t.status and t.errors and "unreachable" not in self._told:
            self._told.add("unreachable")
            kind, n = next(iter(t.errors.items()))
            url = self.session.setup.plan.work.base_url
            self._banner(f"no response from {url}: {kind} ({n:,}); s stops the run", warning=True)
            self.notify(
                f"{url}: {kind} ({n:,} requests, no responses). Is the target up?",
                title="Target unreachable",
                severity="error",
                timeout=10,
            )
        for failure in s.failures:
            if failure not in self._told:
                self._told.add(failure)
                self.notify(failure, title="Worker failed", severity="error", timeout=10)
        for series in s.observed.values():  # a target gone: said once an outage
            key = f"observe {series.source}"
            if series.problem and key not in self._told:
                self._told.add(key)
                self.notify(series.problem, title="Server side", severity="warning", timeout=10)
            elif not series.problem:
                self._told.discard(key)
        for insight in s.insights:  # each kind once, as it comes (a knee found again moves)
            key = f"insight {insight.kind}"
            if key not in self._told:
                self._told.add(key)
                self.notify(insight.text, title=f"Finding: {insight.kind}", timeout=8)

    @on(RunFinished)
    def _finished(self, message: RunFinished) -> None:
        """Bubbles on to the app, which shows the summary (once no dialog is open)."""
        self._changed()
        if message.result.error and self._ended is None:
            self.notify(
                message.result.error, title="The engine stopped", severity="error", timeout=15
            )
        self._ended = message

    def on_screen_resume(self) -> None:
        """The run ended while a dialog was open over this screen: tell the app again now."""
        if self._ended is not None:
            ended = self._ended
            again = (
                RunFinished(ended.result)
                if isinstance(ended, RunFinished)
                else RunCrashed(ended.error)
            )
            self.post_message(again)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker that raised becomes a modal; what was measured is kept."""
        if event.worker.group != "engine" or event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        self.post_message(RunCrashed(f"{type(error).__name__}: {error}"))

    @on(RunCrashed)
    def _crashed(self, message: RunCrashed) -> None:
        """Keep what was measured as the result; the app shows the error and the summary."""
        if self.session.measured and self.session.result is None:
            self.session.result = self.session.partial_result(
                StopCause(StopReason.ENGINE_ERROR, message.error)
            )
        self._ended = message
        self._changed()

    # ---------------------------------------------------------------- steering
    def action_back(self) -> None:
        if not self.session.started:
            self.app.pop_screen()

    def action_pause(self) -> None:
        """Pause the selected scenario, or the whole run (the row `all`, or one scenario)."""
        if not self.session.started:
            return
        name = self.selected
        self.session.pause(scenario=name)
        if name is None:
            self._banner("paused: p resumes")
        else:
            self.paused.add(name)
            self._banner(f"{name} paused: p on its row resumes it")
        self._changed()
        self.refresh_bindings()

    def action_resume(self) -> None:
        """Resume the selected scenario; a whole run paused resumes whole."""
        if not self.session.started:
            return
        name = self.selected if self.state == RunState.RUNNING else None
        self.session.resume(scenario=name)
        if name is None:
            self.paused.clear()
        else:
            self.paused.discard(name)
        self._banner("")
        self._changed()
        self.refresh_bindings()

    def action_nudge(self, direction: int) -> None:
        if not self.session.started:
            return
        name = self.selected
        now = self.scale if name is None else self.scales.get(name, self.scale)
        scale = max(MIN_SCALE, round(now + direction * NUDGE, 6))
        if scale == now:
            self.notify(f"the target is already at its minimum ({MIN_SCALE:.0%} of the plan)")
            return
        self.session.set_scale(scale, scenario=name)
        if name is None:
            self.scale = scale
            self.scales.clear()  # every scenario now at the one scale
        else:
            self.scales[name] = scale
        self._show_status()  # "target ×1.10" at once, not at the next interval

    def _unit(self, name: str | None) -> str:
        plan = self.session.setup.plan
        cfg = next((s.executor for s in plan.work.scenarios if s.name == name), None)
        cfg = cfg or single_executor(plan)
        return "iterations/s" if cfg is not None and cfg.open_model else "VUs"

    def action_target(self) -> None:
        """A typed target for the selected scenario (several: VUs and rates do not add,
        so the row `all` takes none)."""
        last = self.session.last
        name = self.selected
        if name is None and len(scenario_names(self.session.setup.plan)) > 1:
            self.notify("select a scenario's row first (↑ ↓): its VUs or rate", timeout=5)
            return
        current, scale = (last.row.target if last is not None else 0.0), self.scale
        if name is not None:
            rows = [r for r in last.scenarios if r.name == name] if last is not None else []
            current = rows[0].target if rows else 0.0
            scale = self.scales.get(name, self.scale)

        def apply(value: float | None) -> None:
            if value is None or not self.session.started:
                return
            base = current / scale if scale else 0.0
            if base <= 0:
                self.notify(
                    "the planned target is 0 right now, so there is nothing to scale; "
                    "use + once the shape has started",
                    severity="warning",
                )
                return
            self.session.set_target(value, scenario=name)
            if name is None:
                self.scale = value / base
            else:
                self.scales[name] = value / base
            self._show_status()

        self.app.push_screen(TargetModal(self._unit(name), current), apply)

    def action_stop(self) -> None:
        if self.session.started:
            self.session.stop(StopReason.USER_STOP)
            self._banner("stopping gracefully: in-flight requests finish (x aborts at once)")
            self._changed()

    def action_abort(self) -> None:
        if self.session.started:
            self.session.abort(StopReason.USER_ABORT)
            self._banner("aborting")
            self._changed()

    def action_save(self) -> None:
        """A partial report of the run so far; the run goes on."""

        async def save(path: Path) -> str | None:
            try:
                written = await self.session.save(path)
            except OSError as exc:
                return f"cannot write {path}: {exc.strerror or exc}"
            self.notify(f"partial report saved to {written}", title="Saved")
            return None

        self.app.push_screen(
            SaveModal(self.session.default_path, save, "Save a partial report (the run goes on)")
        )

    # ------------------------------------------------------------------ deploy
    def _deploy_allowed(self, action: str) -> bool | None:
        """Rollout keys exist only with a deploy driver; [ and ] only for a manual one."""
        deploy = self.session.deploy
        if deploy is None:
            return False
        if action == "deploy_nudge":
            return deploy.manual and not deploy.strategy.done
        if action == "deploy_toggle":
            return True if deploy.phase in (Phase.READY, Phase.RUNNING, Phase.PAUSED) else None
        return True

    def _show_deploy(self) -> None:
        """Redraw the panel; say a promotion or a rollback once, loudly."""
        deploy = self.session.deploy
        if deploy is None:
            return
        self.query_one(DeployPanel).refresh_from_driver()
        new = deploy.events[self._deploy_told :]
        self._deploy_told = len(deploy.events)
        for event in new:
            if event.kind is EventKind.PROMOTED:
                self.notify(event.message, title="Green promoted", timeout=10)
            elif event.kind is EventKind.ROLLED_BACK:
                self.notify(event.message, title="Rolled back", severity="warning", timeout=10)
        self.refresh_bindings()

    def action_deploy_toggle(self) -> None:
        if self.session.deploy is not None:
            self.session.deploy.toggle()
            self._show_deploy()

    def action_deploy_promote(self) -> None:
        if self.session.deploy is not None:
            self.session.deploy.promote()
            self._show_deploy()

    def action_deploy_rollback(self) -> None:
        if self.session.deploy is not None:
            self.session.deploy.rollback()
            self._show_deploy()

    def action_instances(self) -> None:
        if self._fleet is not None:
            self.app.push_screen(InstanceLogScreen(self._fleet))

    def action_deploy_nudge(self, direction: int) -> None:
        if self.session.deploy is not None:
            self.session.deploy.nudge(direction)
            self._show_deploy()
