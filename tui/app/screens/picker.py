"""The picker: profile, then goal, then test type, then load (the load-testing checklist).

Everything is validated as it is typed: a bad field is explained beside it, a
bad goal line under the goal, and the preview shows the shape the run will
have. Starting is refused (with a notification) until all of it is valid.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Label, OptionList, Select, Static, TextArea
from textual.widgets.option_list import Option

from engine.durations import clock, format_duration
from engine.errors import ConfigError
from engine.explore.capacity import GROWTH, CapacitySettings
from engine.load.executors import EXECUTORS, ExecutorConfig
from engine.load.run import RunPlan
from engine.load.testtypes import TEST_TYPES, preview, resolve
from engine.profile import Profile, ProfileError, http_fields
from engine.profile.plan import (
    Overrides,
    build_plan,
    capacity_settings,
    choose_executor,
    default_workers,
    fit_duration,
    run_test_type,
)
from tui.app.catalog import ProfileEntry, load_entry
from tui.app.form import (
    FIELDS,
    field_for,
    field_texts,
    make_overrides,
    parse_fields,
)
from tui.app.goal import goal_text, parse_goal
from tui.app.layout import fit_footer
from tui.app.messages import RunRequested
from tui.app.probe import Probe, check_target
from tui.app.session import RunSetup
from tui.app.widgets.plots import LaneShape, ShapePreview

CUSTOM = "custom"
SEARCH_PREVIEW_STEPS = 6  # the search's first steps, as the preview draws them
CUSTOM_SUMMARY = "the profile's own [load] or [scenarios], or the executor chosen below"
AUTO = "auto"


@dataclass(frozen=True)
class PickerChoice:
    """What the command line preselects (`surge PROFILE --type T --env E ...`)."""

    profile_path: Path | None = None
    url: str | None = None  # `surge URL`: the ad-hoc profile listed first, preselected
    test_type: str | None = None
    env: str | None = None
    base_url: str | None = None
    overrides: Overrides = field(default_factory=Overrides)


def profile_prompt(entry: ProfileEntry) -> Text:
    """Name, target, environments and expected load: what tells profiles apart."""
    out = Text()
    p = entry.profile
    if p is None:
        out.append(f"✗ {entry.name}", style="bold red")
        out.append(f"\n  {entry.error}", style="red")
        return out
    out.append(p.name, style="bold")
    out.append(f"  {p.base_url}", style="cyan")
    load = []
    if p.vus is not None:
        load.append(f"{p.vus} VUs")
    if p.rate is not None:
        load.append(f"{p.rate:g}/s")
    if p.load is not None:
        load.append(p.load.executor)
    if p.scenarios:
        load.append(f"{len(p.scenarios)} scenarios")
    envs = ", ".join(p.environments) if p.environments else "none"
    out.append(f"\n  load: {' · '.join(load) or 'default'}  envs: {envs}", style="dim")
    if p.description:
        out.append(f"\n  {p.description}", style="dim italic")
    return out


def lane_shapes(plan: RunPlan, points: int = 60) -> list[LaneShape]:
    """Each scenario's shape from its startTime, as the preview stacks them."""
    return [
        LaneShape(
            s.name,
            s.start_time,
            preview(s.executor, points),
            "iterations/s" if s.executor.open_model else "VUs",
        )
        for s in plan.work.scenarios
    ]


def scenarios_line(plan: RunPlan) -> str:
    """`3 scenarios: browse, buy from 0:02, admin from 0:01` under the preview."""
    parts = [
        s.name if s.start_time <= 0 else f"{s.name} from {clock(s.start_time)}"
        for s in plan.work.scenarios
    ]
    return f"{len(parts)} scenarios: {', '.join(parts)}"


def search_preview(
    s: CapacitySettings, steps: int = SEARCH_PREVIEW_STEPS
) -> list[tuple[float, float]]:
    """A capacity search's first steps as a staircase of (time, rate): from `start`, each
    held `hold` and doubled, up to `max`. Where it turns to bisecting is the server's
    answer, so the preview shows only the way up."""
    points: list[tuple[float, float]] = []
    rate = s.start
    for i in range(steps):
        points += [(i * s.hold, rate), ((i + 1) * s.hold, rate)]
        if rate >= s.max:
            break
        rate = min(rate * GROWTH, s.max)
    return points


def search_line(s: CapacitySettings) -> str:
    """What a capacity run will do, under the preview."""
    return (
        f"a search from {s.start:,.0f}/s, doubling each {format_duration(s.hold)} step until "
        f"one fails the thresholds, then bisecting to {s.precision:.0%} (at most {s.max:,.0f}/s)"
    )


def type_prompt(name: str) -> Text:
    summary = CUSTOM_SUMMARY if name == CUSTOM else TEST_TYPES[name].summary
    out = Text()
    out.append(f"{name:<11}", style="bold")
    out.append(summary, style="dim")
    return out


def form_field(
    label: str, key: str, widget: Input | Select[str], error: bool = True
) -> ComposeResult:
    """A labelled field `#f-KEY` and the line `#e-KEY` under it that says what is wrong."""
    widget.id = f"f-{key}"
    yield Horizontal(Label(label, classes="field-label"), widget, classes="field")
    if error:
        yield Static("", id=f"e-{key}", classes="field-error", markup=False)


class PickerScreen(Screen[None]):
    """Chooses a profile, a goal, a test type and a load; posts RunRequested on start."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "start", "Start run", id="picker.start", priority=True),
        Binding("ctrl+o", "focus_pane('profiles')", "Profiles", id="picker.profiles"),
        Binding("ctrl+g", "focus_pane('goal')", "Goal", id="picker.goal"),
        Binding("ctrl+t", "focus_pane('types')", "Type", id="picker.types"),
        Binding("ctrl+l", "focus_pane('form')", "Load", id="picker.load"),
        Binding("ctrl+q", "app.quit", "Quit", id="picker.quit"),
    ]

    def __init__(
        self,
        entries: list[ProfileEntry],
        choice: PickerChoice | None = None,
        probe: Probe | None = None,
        admin_url: str | None = None,
    ) -> None:
        """`probe`: how a target is checked before a run (None: not at all, for a stand-in
        controller that sends no traffic); `admin_url`: the proxy admin API the run's
        rollout will use, when not the profile's `admin_port` (`surge demo`)."""
        super().__init__()
        self.entries = entries
        self.choice = choice or PickerChoice()
        self.probe = probe
        self.admin_url = admin_url
        self.entry: ProfileEntry | None = None
        self.profile: Profile | None = None
        self.test_type = self._initial_type()
        self.cfg: ExecutorConfig | None = None
        self.plan: RunPlan | None = None  # the plan of a profile with [scenarios]
        self.errors: dict[str, str] = {}
        self.scaled_to: float | None = None  # the duration a test type was scaled to
        self.base_url: str | None = None  # the base-URL field, checked as a profile's is
        self._said: dict[str, str] = {}
        self._previewed: tuple[object, ...] = ()
        self._type_picked = False  # the user moved in the type list: profiles stop choosing
        self._type_auto: str | None = None  # the type last highlighted for the profile

    def _initial_type(self) -> str:
        if self.choice.test_type == CUSTOM:
            return CUSTOM
        if self.choice.test_type:
            try:
                return resolve(self.choice.test_type).name
            except ConfigError:
                return "smoke"
        return "smoke"

    def _follow_profile_type(self) -> None:
        """No `--type` and no type picked yet: highlight the type `surge run PROFILE` would
        run (the profile's `test_type`, `average` for a rollout without `[load]`)."""
        if self.choice.test_type or self._type_picked or self.profile is None:
            return
        named = run_test_type(self.profile, Overrides())
        try:  # [scenarios] run as written unless a type is asked for: "custom"
            wanted = resolve(named).name if named else CUSTOM if self.profile.scenarios else "smoke"
        except ConfigError:
            return
        self._type_auto = wanted
        types = self.query_one("#types", OptionList)
        types.highlighted = types.get_option_index(wanted)
        self.test_type = wanted

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Container(id="picker-body"):
            with Vertical(id="picker-left"):
                profiles = OptionList(
                    *(Option(profile_prompt(e), id=str(i)) for i, e in enumerate(self.entries)),
                    id="profiles",
                )
                profiles.border_title = "1 profile"
                yield profiles
                with Vertical(id="goal-box") as goal_box:
                    goal_box.border_title = "2 goal: thresholds, METRIC:EXPR per line"
                    yield TextArea(
                        id="goal", soft_wrap=True, show_line_numbers=False, tab_behavior="focus"
                    )
                    yield Static("", id="goal-error", classes="field-error", markup=False)
            # Not a focus stop of its own (Tab landed there with nothing to show it): its
            # fields scroll it when they take the focus.
            with VerticalScroll(id="picker-right", can_focus=False):
                types = OptionList(
                    *(Option(type_prompt(n), id=n) for n in (*TEST_TYPES, CUSTOM)), id="types"
                )
                types.border_title = "3 test type"
                yield types
                yield ShapePreview(id="preview")
                yield Static("", id="plan-describe", markup=False)
                with Vertical(id="form") as form:
                    form.border_title = "4 load (empty = from the profile and the type)"
                    yield from form_field("base URL", "base_url", Input(compact=True))
                    executors = [(AUTO, AUTO), *((e, e) for e in EXECUTORS)]
                    executor = Select(executors, value=AUTO, allow_blank=False, compact=True)
                    yield from form_field("executor", "executor", executor)
                    envs = Select([("none", "")], value="", allow_blank=False, compact=True)
                    yield from form_field("environment", "env", envs, error=False)
                    for f in FIELDS:
                        yield from form_field(f.label, f.key, Input(compact=True))
                    yield Static("", id="e-form", classes="field-error", markup=False)
        yield Footer()

    def on_resize(self) -> None:
        fit_footer(self)  # at 80 columns `? Keys` must not be cut by `^p palette`

    def on_mount(self) -> None:
        self.sub_title = "pick a profile, a goal, a test type and a load"
        for key, text in field_texts(self.choice.overrides).items():
            self.query_one(f"#f-{key}", Input).value = text
        types = self.query_one("#types", OptionList)
        profiles = self.query_one("#profiles", OptionList)
        if not self.entries:
            types.highlighted = types.get_option_index(self.test_type)
            self.query_one("#goal-error", Static).update(
                "no profiles found in ./profiles, the config folder or --profiles DIR"
            )
            return
        index = next((i for i, e in enumerate(self.entries) if e.profile is not None), 0)
        if self.choice.profile_path is not None:
            wanted = self.choice.profile_path.resolve()
            index = next(
                (i for i, e in enumerate(self.entries) if e.path and e.path.resolve() == wanted),
                index,
            )
        profiles.highlighted = index
        self._use_entry(self.entries[index], env=self.choice.env)
        types.highlighted = types.get_option_index(self.test_type)  # after the profile's
        chosen = self.choice.profile_path is not None or self.choice.url is not None
        (types if chosen else profiles).focus()

    # ------------------------------------------------------------------ events
    @on(OptionList.OptionHighlighted, "#profiles")
    def _profile_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        entry = self.entries[int(event.option.id or 0)]
        if entry is not self.entry:
            self._use_entry(entry)

    @on(OptionList.OptionSelected, "#profiles")
    def _profile_selected(self, event: OptionList.OptionSelected) -> None:
        entry = self.entries[int(event.option.id or 0)]
        if entry.profile is None:
            self.notify(entry.error or "cannot load", title="Profile error", severity="error")
            return
        self.query_one("#types", OptionList).focus()

    @on(OptionList.OptionHighlighted, "#types")
    def _type_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_index != event.option_list.highlighted:
            return  # stale: the list's own first highlight, since moved to the profile's type
        self.test_type = event.option.id or "smoke"
        if self.test_type != self._type_auto:
            self._type_picked = True
        self.validate()

    @on(OptionList.OptionSelected, "#types")
    def _type_selected(self, event: OptionList.OptionSelected) -> None:
        self.test_type = event.option.id or "smoke"
        self.action_start()

    @on(Select.Changed, "#f-env")
    def _env_changed(self, event: Select.Changed) -> None:
        if self.entry is None or self.profile is None:
            return
        env = str(event.value) or None
        if env == self.profile.environment or self.entry.path is None:
            return
        entry = load_entry(self.entry.path, env=env, base_url=self.choice.base_url)
        if entry.profile is None:
            self.notify(entry.error or "cannot load", title="Environment", severity="error")
            return
        self.profile = entry.profile
        self._show_profile_defaults()
        self.validate()

    @on(Select.Changed, "#f-executor")
    @on(Input.Changed)
    @on(TextArea.Changed, "#goal")
    def _form_changed(self) -> None:
        self.validate()

    # ----------------------------------------------------------------- helpers
    def _use_entry(self, entry: ProfileEntry, env: str | None = None) -> None:
        self.entry = entry
        self.profile = entry.profile
        if entry.profile is not None and entry.path is not None and env:
            loaded = load_entry(entry.path, env=env, base_url=self.choice.base_url)
            if loaded.profile is None:
                self.notify(loaded.error or "cannot load", title="Environment", severity="error")
            else:
                self.profile = loaded.profile
        goal = self.query_one("#goal", TextArea)
        goal.disabled = self.profile is None
        goal.load_text(goal_text(self.profile.thresholds) if self.profile else "")
        envs = self.query_one("#f-env", Select)
        names = self.profile.environments if self.profile else ()
        envs.set_options([("none", ""), *((n, n) for n in names)])
        envs.value = (self.profile.environment or "") if self.profile else ""
        self._follow_profile_type()
        self._show_profile_defaults()
        self.validate()

    def _show_profile_defaults(self) -> None:
        """Placeholders say what an empty field means for this profile."""
        p = self.profile
        if p is None:
            return
        hints = {
            "vus": str(p.vus) if p.vus is not None else "10",
            "rate": f"{p.rate:g}" if p.rate is not None else "none: closed model",
            "max_vus": str(p.max_vus) if p.max_vus is not None else "auto",
            "duration": "the type's (or scales it)",
            "time_scale": f"{p.time_scale:g}",
            "workers": str(p.workers or default_workers(p.base_url)),
        }
        for key, hint in hints.items():
            self.query_one(f"#f-{key}", Input).placeholder = hint
        self.query_one("#f-base_url", Input).placeholder = p.base_url
        self.sub_title = f"{p.name} → {p.base_url}"

    def _field_text(self, key: str) -> str:
        return self.query_one(f"#f-{key}", Input).value

    def overrides(self) -> Overrides | None:
        """The form as Overrides, or None (with every problem shown) while anything is wrong."""
        errors: dict[str, str] = {}
        values, errors = parse_fields({f.key: self._field_text(f.key) for f in FIELDS})
        goal = self.query_one("#goal", TextArea)
        originals = self.profile.thresholds if self.profile else ()
        thresholds, goal_errors = parse_goal(goal.text, originals)
        if goal_errors:
            errors["goal"] = "\n".join(goal_errors)
        executor = str(self.query_one("#f-executor", Select).value)
        o = make_overrides(
            values,
            executor=None if executor == AUTO else executor,
            test_type=None if self.test_type == CUSTOM else self.test_type,
            thresholds=thresholds,
        )
        given = self.choice.overrides  # --max-redirects, --observe: not in the form
        o = replace(o, max_redirects=given.max_redirects, observe=given.observe)
        self.base_url = None
        if text := self._field_text("base_url").strip():
            try:  # the rule a profile's base_url and --base-url follow
                self.base_url = http_fields.http_base(text)
            except ValueError as exc:
                errors["base_url"] = f"bad base URL: {exc}"
        self.cfg = None
        self.scaled_to = None
        if self.profile is not None and not errors:
            try:
                fitted = fit_duration(self.profile, o)
                if fitted is not o:
                    self.scaled_to = o.duration
                    o = fitted
            except ValueError as exc:
                errors["duration"] = str(exc)
            except ConfigError as exc:
                errors[field_for(exc.key) or "form"] = str(exc)
        self.plan = None
        if self.profile is not None and not errors and self.profile.scenarios:
            try:  # each scenario as the run will have it (a type scales every one)
                self.plan = build_plan(self.profile, o, interval=1.0, in_process=False)
            except (ConfigError, ProfileError) as exc:
                errors[field_for(exc.key) or "form"] = str(exc)
            if self.plan is not None and len(self.plan.work.scenarios) == 1:
                self.cfg = self.plan.work.scenarios[0].executor  # a load flag made one
                self.plan = None
        elif self.profile is not None and not errors:
            try:
                self.cfg = choose_executor(self.profile, o)
            except ConfigError as exc:
                errors[field_for(exc.key) or "form"] = str(exc)
        self.errors = errors
        return None if errors or self.profile is None else o

    def validate(self) -> Overrides | None:
        """Check everything, show each problem where it is, redraw the preview."""
        o = self.overrides()
        for key in ("executor", "form", "base_url", *(f.key for f in FIELDS)):
            self._say(f"#e-{key}", self.errors.get(key, ""))
        for key in ("base_url", *(f.key for f in FIELDS)):
            self.query_one(f"#f-{key}", Input).set_class(key in self.errors, "-invalid")
        self._say("#goal-error", self.errors.get("goal", ""))
        preview_plot = self.query_one("#preview", ShapePreview)
        if self.plan is not None:
            lanes = lane_shapes(self.plan)
            if (lanes, "scenarios") != self._previewed:
                self._previewed = (lanes, "scenarios")
                preview_plot.show_lanes(lanes)
            self._say("#plan-describe", scenarios_line(self.plan), hide=False)
        elif self.cfg is not None:
            unit = "iterations/s" if self.cfg.open_model else "VUs"
            # a capacity run's rate is the search's (its settings, --rate its start)
            search = capacity_settings(self.profile, o) if self.profile and o else None
            points = preview(self.cfg, 60) if search is None else search_preview(search)
            if (points, unit) != self._previewed:
                self._previewed = (points, unit)
                preview_plot.show(points, unit)
            note = (
                "  (executor chosen: the test type's shape is not used)"
                if o is not None and o.executor and self.test_type != CUSTOM
                else ""
            )
            if o is not None and self.scaled_to is not None and o.time_scale is not None:
                note = (
                    f"  (scaled to the duration {clock(self.scaled_to)}: "
                    f"time scale {o.time_scale:.3g})"
                )
            describe = self.cfg.describe() if search is None else search_line(search)
            self._say("#plan-describe", describe + note, hide=False)
        else:
            if self._previewed:
                self._previewed = ()
                preview_plot.show((), "VUs")
            problem = "fix the fields marked below" if self.profile else "no profile"
            self._say("#plan-describe", problem, hide=False)
        return o

    def _say(self, selector: str, text: str, *, hide: bool = True) -> None:
        """Update a message only when it changes (each update costs a relayout)."""
        if self._said.get(selector) == text:
            return
        self._said[selector] = text
        widget = self.query_one(selector, Static)
        widget.update(text)
        if hide:
            widget.display = bool(text)

    # ----------------------------------------------------------------- actions
    def action_focus_pane(self, pane: str) -> None:
        if pane == "form":
            self.query_one("#f-vus", Input).focus()
        else:
            self.query_one(f"#{pane}").focus()

    def action_start(self, autostart: bool = True) -> None:
        """Build the plan; `autostart` False opens the run screen ready, waiting for enter."""
        if self.entry is None:
            self.notify("no profile to run", severity="error")
            return
        if self.profile is None:
            self.notify(self.entry.error or "cannot load", title="Profile error", severity="error")
            return
        o = self.validate()
        if o is None:
            self.notify("fix the marked fields first", title="Cannot start", severity="error")
            return
        profile = self.profile
        if self.base_url is not None:  # aimed elsewhere from the picker
            profile = replace(profile, base_url=self.base_url)
        try:
            plan = build_plan(profile, o, interval=1.0, in_process=False)
        except (ConfigError, ProfileError) as exc:
            self.notify(str(exc), title="Cannot start", severity="error")
            return
        setup = RunSetup(profile, plan, o, self.entry.path)
        if self.probe is None:
            self.post_message(RunRequested(setup, autostart))
        else:
            self._say("#e-form", "checking the target…")
            self.check_then_start(setup, autostart)

    @work(group="probe", exclusive=True, exit_on_error=False)
    async def check_then_start(self, setup: RunSetup, autostart: bool) -> None:
        """A connect to the target first (off the UI's way, a second at most): a target
        that is not there is said, with what to start, instead of run against."""
        assert self.probe is not None
        found = await check_target(
            setup.profile, setup.profile_path, self.probe, admin_url=self.admin_url
        )
        if found.problem is not None:
            self._say("#e-form", found.problem)
            self.notify(found.problem, title="The target does not answer", severity="error")
            return
        self._say("#e-form", "")
        if found.deploy_note is not None:
            self.notify(found.deploy_note, title="No deploy panel", severity="warning")
        self.post_message(RunRequested(setup, autostart, deploy=found.deploy))
