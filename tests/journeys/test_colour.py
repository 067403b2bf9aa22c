"""Colour as the terminal asks: none for `TERM=dumb` or `NO_COLOR`, not even grey
(Textual's NO_COLOR filter alone still sends 24-bit greys); colour otherwise."""

from __future__ import annotations

import re

import pytest

from tests.journeys.harness import Journey, needs_terminal

pytestmark = needs_terminal

PROFILE = """\
name = "plain"
base_url = "http://127.0.0.1:9"

[[endpoints]]
path = "/"
"""
COLOUR = re.compile(r"\x1b\[[0-9;]*(?:38|48);[25];[0-9;]*m")  # a foreground or background


@pytest.mark.parametrize(
    ("env", "coloured"),
    [
        ({"TERM": "dumb"}, False),
        ({"NO_COLOR": "1", "TERM": "xterm-256color"}, False),
        ({"TERM": "xterm-256color"}, True),
    ],
    ids=["dumb", "NO_COLOR", "xterm-256color"],
)
def test_no_color_and_a_dumb_terminal_get_no_colour(
    journey: Journey, env: dict[str, str], coloured: bool
) -> None:
    journey.write("p/plain.toml", PROFILE)
    journey.start("--profiles", "p", size=(100, 30), env=env)
    journey.wait_for(lambda s: "1 profile" in s and "^q Quit" in s, "the picker")
    cells = journey.tmux("capture-pane", "-p", "-e", "-t", journey.tmux.session)  # with SGR
    colours = COLOUR.findall(cells)
    assert bool(colours) is coloured, colours[:3]
    journey.keys("C-q")
    assert journey.exit_code() == 0
