"""`--type capacity` in the console against `surge sut --capacity N` (a server whose
capacity is known): the search's steps drawn live against the offered rate, held (●) and
failed (✗) marked, the run ending by itself with its answer, the report holding it
within 10% of N, and no process left. At 160x48 the SUT's own /metrics (`--observe`)
are drawn beside the latency as it runs."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable

import pytest

from tests.journeys.harness import LARGE, SMALL, Journey, needs_terminal

pytestmark = needs_terminal

CAPACITY = 200  # requests/s the server serves; the rest queue
PROFILE = """\
name = "cap"
base_url = "{url}"
capacity = {{ hold = "1s", start = 50, max = 2000, precision = 0.1 }}

[thresholds]
http_req_duration = ["p(95)<50"]

[[endpoints]]
name = "home"
path = "/"
"""


TITLE = re.compile(r"by (offered )?rate/s")  # the rate plot's title, wide or narrow


def hockey_rows(screen: str) -> str:
    """The rate plot's rows: from its title on the border to the footer (none: "")."""
    lines = screen.splitlines()
    top = next((i for i, line in enumerate(lines) if TITLE.search(line)), len(lines))
    return "\n".join(lines[top:])


def marked(*marks: str) -> Callable[[str], bool]:
    return lambda screen: all(m in hockey_rows(screen) for m in marks)


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=lambda s: f"{s[0]}x{s[1]}")
def test_a_capacity_search_in_the_console_finds_the_servers_capacity(
    journey: Journey, sut: Callable[..., str], size: tuple[int, int]
) -> None:
    url = sut("--capacity", str(CAPACITY))
    journey.write("profiles/cap.toml", PROFILE.format(url=url))
    observe = ("--observe", f"{url}/metrics") if size == LARGE else ()
    journey.start("profiles/cap.toml", "--type", "capacity", "--start", *observe, size=size)
    journey.wait_for(marked("●"), "a step that held, on the rate plot")
    if size == LARGE:  # the SUT's own series beside the latency, named with their values
        journey.wait_for(lambda s: "inflight" in s, "the SUT's series")
    journey.wait_for(marked("●", "✗"), "a step the server failed", 60)
    journey.wait_for("not saved yet: w saves the report", "the search's end, on its own", 90)
    journey.save()
    journey.keys("q")
    assert journey.exit_code() == 0

    (saved,) = journey.reports()  # the default path: reports/cap-capacity-TIME.toml
    report = tomllib.loads(saved.read_text())
    capacity = report["capacity"]
    assert 0.9 * CAPACITY <= capacity["rate"] <= 1.1 * CAPACITY, capacity
    assert any(not step["held"] for step in capacity["steps"]), capacity
