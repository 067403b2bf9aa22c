"""The main walk: picker -> run -> summary -> save -> again -> save -> compare -> quit,
then `surge report open` and `surge report compare` on the two reports it saved."""

from __future__ import annotations

import re

import pytest

from engine.report.document import read_report
from tests.journeys.harness import SIZES, Journey, needs_terminal

pytestmark = needs_terminal

PROFILE = """\
name = "walk"
base_url = "{url}"
vus = 2
time_scale = 0.03

[[endpoints]]
path = "/"
"""


def input_empty(screen: str) -> bool:
    """A text field on screen holds nothing (its left edge, blanks, its right edge)."""
    return re.search(r"▊ +▎", screen) is not None


def run_and_save(journey: Journey, start_key: str) -> str:
    """One run to its summary, saved with w and the default path; the saved path."""
    journey.keys(start_key)
    journey.wait_for("not saved yet: w saves the report", "the run's summary")
    screen = journey.save()
    found = re.search(r"report saved to (reports/\S+\.toml)", screen)
    assert found, screen
    return found.group(1)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_picker_run_summary_save_open_compare(
    journey: Journey, shared_sut: str, size: tuple[int, int]
) -> None:
    journey.write("profiles/walk.toml", PROFILE.format(url=shared_sut))
    journey.start(size=size)
    journey.wait_for("walk", "the picker listing ./profiles")

    base = run_and_save(journey, "C-r")
    assert read_report(journey.folder / base).summary.requests > 0
    new = run_and_save(journey, "r")  # r: the same run again
    assert new != base

    journey.keys("c")  # compare with a base report, from the summary
    journey.wait_for("newest first", "the compare dialog")
    journey.keys("C-u")
    journey.wait_for(input_empty, "the path field emptied")
    journey.type(base)
    journey.wait_for(f"▊  {base}", "the typed path")
    journey.keys("Enter")
    screen = journey.wait_for("against base", "the comparison")
    assert "regression beyond 10%" in screen
    assert re.search(r"\brps\b.+/s.+/s", screen) and re.search(r"\bp95\b", screen)

    journey.keys("q")  # saved: q quits at once
    assert journey.exit_code() == 0

    journey.start("report", "open", new, "--compare", base, size=size)
    screen = journey.wait_for(
        lambda s: "against base" in s and f"report {new}" in s, "the saved report, compared"
    )
    assert "✓ done" in screen
    journey.keys("q")
    assert journey.exit_code() == 0

    compared = journey.surge("report", "compare", base, new)
    assert compared.returncode == 0, compared.stderr
    assert "regression" in compared.stdout

    left = ["home/.local/state/surge/workers.log", "work/profiles/walk.toml", base, new]
    assert journey.files() == sorted(f"work/{p}" if p.startswith("reports") else p for p in left)
