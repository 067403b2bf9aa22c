"""`?`: every key the screen below answers, with what it does.

At 80 columns a footer cannot hold them all (a rollout's D, P and R take the room of
t, x and v); whatever it leaves out is here, so no key is a secret.
"""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, Static

COLUMNS = 2  # key and description pairs per row: the run screen's keys fit 80x24


# Textual's own keys worth a line (scrolling and the like go without saying)
_BUILT_IN = ("app.focus_next", "app.focus_previous", "command_palette")


def answered_keys(screen: Screen[object]) -> list[tuple[str, str, bool]]:
    """(key as shown, what it does, whether it does it now) for every key the screen and
    the app answer, one line per action. The app's own (ctrl+c: stop, then quit) are
    added where a widget's binding of the same key hides them from `active_bindings`."""
    found = [(b, enabled) for _node, b, enabled, _tip in screen.active_bindings.values()]
    app_bindings = type(screen.app).BINDINGS
    found += [(b, True) for b in app_bindings if isinstance(b, Binding)]
    out: list[tuple[str, str, bool]] = []
    seen: set[str] = set()
    for binding, enabled in found:
        ours = binding.id is not None or binding.action in _BUILT_IN
        if not ours or not binding.description or binding.action in seen:
            continue
        seen.add(binding.action)
        out.append((screen.app.get_key_display(binding), binding.description, enabled))
    return out


def keys_table(keys: list[tuple[str, str, bool]]) -> Table:
    table = Table(box=None, show_header=False, padding=(0, 1, 0, 0), expand=True)
    for _ in range(COLUMNS):
        table.add_column(no_wrap=True, style="bold")
        table.add_column(no_wrap=True)
    cells: list[Text] = []
    for key, what, enabled in keys:
        cells += [Text(key), Text(what, style="" if enabled else "dim")]
    per_row = 2 * COLUMNS
    for i in range(0, len(cells), per_row):
        row = cells[i : i + per_row]
        table.add_row(*row, *([Text("")] * (per_row - len(row))))
    return table


class HelpScreen(ModalScreen[None]):
    """The keys of `screen`, and its `HELP` note (what is not obvious about it)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "close", "Close", id="help.close"),
    ]

    def __init__(self, screen: Screen[object]) -> None:
        super().__init__()
        self.keys = answered_keys(screen)
        self.note = screen.HELP or ""  # Textual's place for a screen's help text

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog help-dialog"):
            yield Label("Keys (dim: not now)", classes="dialog-title")
            yield Static(keys_table(self.keys), id="help-keys")
            if self.note:
                yield Static(self.note, id="help-note", markup=False)
            yield Static("esc or ? closes", id="help-close", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)
