"""The `journey` fixture: one walk through the installed surge (harness.py says how)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import spawn_sut
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


@pytest.fixture(scope="module")
def module_sut() -> Iterator[str]:
    """One plain `surge sut` for a module's journeys, started by the test (not tagged: the
    journeys' leftover check never sees it), stopped after the module."""
    proc, url = spawn_sut()
    yield url
    proc.terminate()
    proc.wait(timeout=5)
