"""A line of phrases that wraps only between them: at 80 columns `p99 17.52ms` never
splits into `p99` and `17.52ms` on two lines, as plain word-wrapping did."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static

SEPARATOR = " · "


def fit_phrases(phrases: Sequence[Text], width: int, sep: str = SEPARATOR) -> Text:
    """The phrases joined by `sep`, a new line started where the next would not fit."""
    out = Text()
    column = 0
    for i, phrase in enumerate(phrases):
        if i:
            if column + len(sep) + phrase.cell_len <= width:
                out.append(sep, style="dim")
                column += len(sep)
            else:
                out.append("\n")
                column = 0
        out.append_text(phrase)
        column += phrase.cell_len
    return out


class Phrases(Static):
    """A Static whose content is phrases; its `content` is them on one line (for tests
    and copying), what it draws is them fitted to its width."""

    def __init__(self, phrases: Sequence[Text], **kwargs: str) -> None:
        self.phrases = list(phrases)
        super().__init__(fit_phrases(self.phrases, 10**6), **kwargs)

    def render(self) -> Text:
        return fit_phrases(self.phrases, self.content_size.width or 10**6)

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        return len(fit_phrases(self.phrases, width).wrap(self.app.console, width))
