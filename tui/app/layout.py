"""What a screen changes to fit a small terminal (80x24 is a project rule: every screen usable).

The stylesheet does most of it (the -narrow and -wide classes from the app's
breakpoints); this is the part CSS cannot reach: the footer's compact mode and its
palette key are reactives of the widget, and whether a binding is shown is part of
the (frozen) Binding.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from textual.screen import Screen
from textual.widgets import Footer

NARROW = 110  # the app's breakpoint: below it a screen is -narrow


def fit_footer(screen: Screen[object], spare: Collection[str] = ()) -> None:
    """Below NARROW columns the footer drops its padding and the `^p palette` key (ctrl+p
    still opens it), and the bindings whose ids are in `spare` leave the footer (their
    keys still work): what is left fits on one line at 80 columns."""
    narrow = screen.size.width < NARROW
    for footer in screen.query(Footer):
        footer.compact = narrow
        footer.show_command_palette = not narrow
    keys = screen._bindings.key_to_bindings  # Textual has no public setter for `show`
    changed = False
    for key, bindings in keys.items():
        shown = [
            replace(b, show=not narrow) if b.id in spare and b.show == narrow else b
            for b in bindings
        ]
        if shown != bindings:
            keys[key] = shown
            changed = True
    if changed:
        screen.refresh_bindings()
