"""The screen as the terminal shows it, one string per row: for asserting on what is visible.

A snapshot says that something changed; these lines say whether a figure can be read
(not cut at the pane's edge, not scrolled off, not hidden under a toast).
"""

from __future__ import annotations

from textual.app import App


def screen_lines(app: App[object]) -> list[str]:
    """Every row of the current screen (and what is layered over it), as plain text."""
    strips = app.screen._compositor.render_strips()
    return ["".join(segment.text for segment in strip) for strip in strips]


def screen_text(app: App[object]) -> str:
    return "\n".join(screen_lines(app))
