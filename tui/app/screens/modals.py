"""Modals: quit confirmation, report path, typed target, and errors.

Each returns its answer through `dismiss`, so callers use push_screen callbacks
and never block the UI waiting for the user.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from engine.load.steering import fmt_target


class UnsavedModal(ModalScreen[str | None]):
    """Asked before an unsaved run would be lost: on quit (`q` again saves and quits),
    and before a new run replaces it (`w` saves first). `d` discards, esc cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "save_and_quit", "Save & quit", id="unsaved.quit"),
        Binding("w", "save", "Save first", id="unsaved.save"),
        Binding("d", "choose('discard')", "Discard", id="unsaved.discard"),
        Binding("escape", "choose(None)", "Cancel", id="unsaved.cancel"),
    ]

    def __init__(self, message: str, path: Path, *, quitting: bool = True) -> None:
        super().__init__()
        self.message = message
        self.path = path
        self.quitting = quitting

    def compose(self) -> ComposeResult:
        key = "q" if self.quitting else "w"
        with Vertical(id="dialog", classes="dialog"):
            yield Label("Quit Surge?" if self.quitting else "Unsaved run", classes="dialog-title")
            yield Static(self.message, id="unsaved-message", markup=False)
            yield Static(f"{key} saves the report to {self.path}", id="unsaved-path", markup=False)
            with Horizontal(classes="buttons"):
                label = "Save & quit (q)" if self.quitting else "Save first (w)"
                yield Button(label, id="unsaved-save", variant="primary")
                yield Button("Discard (d)", id="unsaved-discard", variant="error")
                yield Button("Cancel (esc)", id="unsaved-cancel")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "save_and_quit":
            return self.quitting
        if action == "save":
            return not self.quitting
        return True

    def action_save_and_quit(self) -> None:
        self.dismiss("save")

    def action_save(self) -> None:
        self.dismiss("save")

    def action_choose(self, choice: str | None) -> None:
        self.dismiss(choice)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        choice = {"unsaved-save": "save", "unsaved-discard": "discard"}.get(event.button.id or "")
        self.dismiss(choice)


class SaveModal(ModalScreen[Path | None]):
    """The report path, editable; a failed write is explained here and the dialog stays."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="save.cancel"),
    ]

    def __init__(
        self,
        default: Path,
        save: Callable[[Path], Awaitable[str | None]],
        title: str = "Save the report",
    ) -> None:
        super().__init__()
        self.default = default
        self.save = save
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Label("TOML report path (enter saves, esc cancels):")
            yield Input(str(self.default), id="save-path")
            yield Static("", id="save-error", classes="field-error", markup=False)

    def on_mount(self) -> None:
        self.query_one("#save-path", Input).focus()

    @on(Input.Submitted, "#save-path")
    async def _submit(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        error = self.query_one("#save-error", Static)
        if not text:
            error.update("give a file path, e.g. reports/run.toml")
            return
        path = Path(text).expanduser()
        if path.is_dir():
            error.update(f"{path} is a folder: add a file name")
            return
        problem = await self.save(path)
        if problem:
            error.update(problem)
            return
        self.dismiss(path)

    def action_cancel(self) -> None:
        self.dismiss(None)


class TargetModal(ModalScreen[float | None]):
    """A typed target (VUs, or iterations/s in open-model runs)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="target.cancel"),
    ]

    def __init__(self, unit: str, current: float) -> None:
        super().__init__()
        self.unit = unit
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Label(f"New target ({self.unit})", classes="dialog-title")
            now = fmt_target(self.current)  # 66.7, not 66.7355
            yield Label(f"Now {now} {self.unit}; the shape keeps its form around it.")
            yield Input(placeholder=now.replace(",", ""), id="target-value")
            yield Static("", id="target-error", classes="field-error", markup=False)

    def on_mount(self) -> None:
        self.query_one("#target-value", Input).focus()

    @on(Input.Submitted, "#target-value")
    def _submit(self, event: Input.Submitted) -> None:
        error = self.query_one("#target-error", Static)
        try:
            value = float(event.value)
        except ValueError:
            error.update(f"expected a number, got {event.value!r}")
            return
        if not value > 0 or value != value or value == float("inf"):
            error.update(f"must be a positive number, got {event.value}")
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ErrorModal(ModalScreen[None]):
    """Anything the user should read before going on; never a traceback."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter", "close", "Close", id="error.close"),
    ]

    def __init__(self, title: str, message: str) -> None:
        super().__init__()
        self.title_text = title
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog error-dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.message, id="error-message", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Close (esc)", id="error-close", variant="primary")

    @on(Button.Pressed, "#error-close")
    def action_close(self) -> None:
        self.dismiss(None)
