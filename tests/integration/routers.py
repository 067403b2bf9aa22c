"""What the router tests share: a real router binary or a clear failure, and bounded
loads through the real engine that count answers by color."""

from __future__ import annotations

import os
import shutil

import pytest

from engine.load.controller import Controller
from engine.load.model import RunModel
from engine.profile import adhoc_profile
from engine.profile.plan import Overrides, build_plan


def require(tool: str, found: str | None) -> str:
    """The tool's path. Missing: a failure where the project's setup installs it (CI,
    root with apt-get: scripts/install-tools.sh); a skip only on a laptop without them."""
    if found:
        return found
    can_install = os.geteuid() == 0 and shutil.which("apt-get") is not None
    if os.environ.get("CI") or can_install:
        pytest.fail(f"{tool} is missing: scripts/install-tools.sh (make test) installs it")
    pytest.skip(f"{tool} is not installed and this user cannot apt-get it (not root)")


async def load(url: str, requests: int, vus: int = 4, path: str = "/") -> RunModel:
    """Exactly `requests` GETs through the engine (shared-iterations), a few VUs."""
    plan = build_plan(
        adhoc_profile(url.rstrip("/") + path),
        Overrides(executor="shared-iterations", iterations=requests, vus=vus),
    )
    controller = Controller(plan)
    await controller.run()
    return controller.model


def counts(model: RunModel) -> dict[str, tuple[int, int]]:
    """(requests, failed) per upstream color, from the x-surge-upstream header."""
    out = {}
    for color in model.upstreams():
        f = model.figures((("upstream", color),))
        out[color] = (f.requests, f.failed)
    return out
