"""Before the first run of a profile whose `[deploy]` colors are recipes: the commands
Surge is about to run, and whether to run them.

The dialog then starts blue's instances itself (`DeployDriver.prepare()`, in a worker)
and shows each one's state until all serve, so the run screen's Start only ever starts
load on instances that answer. A health check that fails is shown here, with the batch
already stopped by the fleet; the run does not start. It answers True once the
instances serve, False when cancelled or failed (nothing is left running then).
"""

from __future__ import annotations

from enum import Enum
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Button, Label, Static

from engine.deploy.driver import DeployDriver
from engine.deploy.instances import HealthError
from tui.app.instances import instance_rows

__all__ = ["StartInstancesModal"]

PROGRESS_S = 0.2


class Stage(Enum):
    ASKING = "asking"
    STARTING = "starting"
    FAILED = "failed"


class StartInstancesModal(ModalScreen[bool]):
    """`ask=False` (this profile's commands were accepted before in this session): it
    starts at once and only shows the progress."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,y", "start", "Start", id="instances.start"),
        Binding("escape,n", "cancel", "Cancel", id="instances.cancel"),
    ]

    def __init__(self, driver: DeployDriver, *, ask: bool = True) -> None:
        super().__init__()
        assert driver.fleet is not None, "only a rollout with recipes starts instances"
        self.driver = driver
        self.fleet = driver.fleet
        self.ask = ask
        self.stage = Stage.ASKING
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        launcher = self.fleet.launcher
        with Vertical(id="dialog", classes="dialog"):
            yield Label("Start these instances?", classes="dialog-title")
            yield Static(
                "Surge runs each on a free loopback port, waits for its health check and "
                "stops it (SIGTERM, then SIGKILL) when the run or the app ends.",
                id="instances-intro",
            )
            yield Static("\n".join(launcher.commands()), id="instances-commands", markup=False)
            yield Static(f"logs: {launcher.log_dir}", id="instances-logs", markup=False)
            yield Static("", id="instances-progress", markup=False)
            yield Static("", id="instances-error", classes="field-error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Start (y)", id="instances-start", variant="primary")
                yield Button("Cancel (n)", id="instances-cancel")

    def on_mount(self) -> None:
        self.query_one("#instances-start", Button).focus()
        if not self.ask:
            self.action_start()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "start":
            return self.stage is Stage.ASKING
        return self.stage is not Stage.STARTING  # a start is bounded by the health timeout

    @on(Button.Pressed, "#instances-start")
    def action_start(self) -> None:
        if self.stage is not Stage.ASKING:
            return
        self.stage = Stage.STARTING
        self.query_one("#instances-start", Button).display = False
        self.query_one("#instances-cancel", Button).disabled = True
        self._progress()
        self._timer = self.set_interval(PROGRESS_S, self._progress)
        self.refresh_bindings()
        self.prepare()

    @work(group="instances", exclusive=True, exit_on_error=False)
    async def prepare(self) -> None:
        """Blue's instances, started and registered with the router (the driver's own
        `prepare`, as `surge run` calls it); on a failed health check, nothing is left."""
        try:
            await self.driver.prepare()
        except HealthError as exc:
            await self.driver.aclose()
            self._failed(str(exc))
            return
        self.dismiss(True)

    def _progress(self) -> None:
        rows = [r for r in instance_rows(self.fleet) if r.pid is not None]
        serving = sum(r.state == "serving" for r in rows)
        lines = [f"starting: {serving} of {len(rows)} serving"]
        lines += [f"  {r.name:<8} {r.address:<16} pid {r.pid:<7} {r.state}" for r in rows]
        self._show("#instances-progress", Text("\n".join(lines)))

    def _failed(self, reason: str) -> None:
        self.stage = Stage.FAILED
        if self._timer is not None:
            self._timer.stop()
        self._show("#instances-progress", "")
        self._show(
            "#instances-error", f"{reason}\n\nThe instances were stopped; the run does not start."
        )
        cancel = self.query_one("#instances-cancel", Button)
        cancel.label = "Close (esc)"
        cancel.disabled = False
        cancel.focus()
        self.refresh_bindings()

    def _show(self, selector: str, text: str | Text) -> None:
        """Progress and error take no room until they have something to say."""
        widget = self.query_one(selector, Static)
        widget.update(text)
        widget.display = bool(str(text))

    @on(Button.Pressed, "#instances-cancel")
    async def action_cancel(self) -> None:
        if self.stage is Stage.STARTING:
            return
        if self.stage is Stage.ASKING:
            await self.driver.aclose()  # nothing started: only its clients close
        self.dismiss(False)
