"""The `journey` fixture: one walk through the installed surge (harness.py says how)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.journeys.harness import Journey


@pytest.fixture
def journey(tmp_path: Path) -> Iterator[Journey]:
    """A journey; afterwards no process of it may be left (5 s grace), then all are ended."""
    walk = Journey(tmp_path)
    try:
        yield walk
        left = walk.leftovers()
    finally:
        walk.close()
    assert not left, "processes left after the journey:\n" + "\n".join(left)
