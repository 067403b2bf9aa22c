"""Thresholds on a real run against `surge sut`: checks per step, empty selections."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.load.controller import Controller
from engine.profile import load_profile
from engine.profile.plan import Overrides, build_plan
from tests.conftest import run_surge

FLOW = """name = "t"
base_url = "http://127.0.0.1:9"

[flow]
[[flow.steps]]
name = "home"
path = "/health"
checks = [{ status = 200 }]
[[flow.steps]]
name = "missing"
path = "/nope"
checks = [{ status = 200 }]

[thresholds]
"checks{step:home}" = ["rate==1"]
"checks{step:missing}" = ["rate==0"]
"checks{step:nosuch}" = ["rate>0.9"]
"http_reqs{step:nosuch}" = ["count>0"]
"http_req_duration{step:nosuch}" = ["p(95)<0"]
"""


async def test_checks_per_step_and_empty_selections_on_a_real_run(
    shared_sut: str, tmp_path: Path
) -> None:
    path = tmp_path / "p.toml"
    path.write_text(FLOW)
    plan = build_plan(load_profile(path, base_url=shared_sut), Overrides(iterations=6, vus=2))
    result = await asyncio.wait_for(Controller(plan).run(), 30)
    assert result.model.checks() == {"status is 200": (6, 6)}
    verdicts = {s.threshold.key: (s.ok, s.observed) for s in result.model.states}
    assert verdicts == {
        "checks{step:home}": (True, 1.0),
        "checks{step:missing}": (True, 0.0),
        "checks{step:nosuch}": (True, None),  # an empty rate: not judged
        "http_reqs{step:nosuch}": (False, 0.0),  # an empty counter: 0
        "http_req_duration{step:nosuch}": (False, 0.0),  # an empty trend: 0
    }


@pytest.mark.parametrize(
    ("threshold", "why"),
    [
        ("vus{kind:read}:value>0", "vus is kept for the whole run: a tag selects it only"),
        ("http_req_duration{url:/x}:p(95)<1", "cannot select by 'url'"),
        ("iterations{step:home}:count>0", "iterations is not kept per step"),
    ],
)
def test_a_tag_surge_cannot_select_is_refused_before_the_run(threshold: str, why: str) -> None:
    proc = run_surge("run", "http://127.0.0.1:9/", "-i", "1", "--threshold", threshold)
    assert proc.returncode == 2, proc.stderr
    assert why in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
