"""Thresholds on a real run against `surge sut`: checks per step, empty selections."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.http.request import prepare
from engine.load.controller import Controller
from engine.load.executors import ExecutorConfig
from engine.load.model import ScenarioRow
from engine.load.run import RunPlan, ScenarioPlan, WorkPlan
from engine.load.thresholds import parse_threshold
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


async def test_thresholds_per_scenario_on_a_real_run_of_two_lanes(shared_sut: str) -> None:
    """k6's tags on a run of two scenarios: an arrival rate that drops (one slow VU) and
    per-VU iterations from 1 s; dropped_iterations carries run tags and `scenario`, not
    the scenario's tags (fact 4); an unknown tag is an empty counter (fact 9)."""
    browse = ScenarioPlan(
        "browse",
        ExecutorConfig(
            executor="constant-arrival-rate", rate=20, duration=2.0, pre_allocated_vus=1
        ),
        requests=(prepare("slow", "GET", shared_sut + "/delay/100", (), None),),
        tags=(("kind", "read"),),
    )
    admin = ScenarioPlan(
        "admin",
        ExecutorConfig(executor="per-vu-iterations", vus=2, iterations=3),
        requests=(prepare("health", "GET", shared_sut + "/health", (), None),),
        start_time=1.0,
        vu_base=1,
    )
    work = WorkPlan(shared_sut, (browse, admin), run_tags=(("team", "web"),))
    keys = {
        "iterations{scenario:admin}": "count==6",
        "http_reqs{scenario:admin}": "count==6",
        "http_reqs{kind:read}": "count>0",
        "http_reqs{team:web}": "count>0",
        "dropped_iterations{scenario:browse}": "count>0",
        "dropped_iterations{kind:read}": "count>0",
        "dropped_iterations{team:web}": "count>0",
        "http_reqs{nosuch:tag}": "count>0",
        "http_req_duration{scenario:browse}": "p(95)>90",
        "http_req_duration{scenario:admin}": "p(95)<90",
    }
    thresholds = tuple(parse_threshold(k, e) for k, e in keys.items())
    plan = RunPlan("two", "<test>", work, thresholds, interval=0.5)
    rows: list[tuple[ScenarioRow, ...]] = []
    result = await asyncio.wait_for(
        Controller(plan, on_snapshot=lambda s: rows.append(s.scenarios)).run(), 30
    )
    lanes = result.model.lanes
    browse_reqs, admin_reqs = lanes["browse"].figures().requests, lanes["admin"].figures().requests
    dropped = lanes["browse"].total.dropped
    assert admin_reqs == 6 and browse_reqs + dropped in (40, 41) and dropped > 0
    seen = {s.threshold.key: (s.ok, s.observed) for s in result.model.states}
    assert seen == {
        "iterations{scenario:admin}": (True, 6.0),
        "http_reqs{scenario:admin}": (True, 6.0),
        "http_reqs{kind:read}": (True, float(browse_reqs)),
        "http_reqs{team:web}": (True, float(browse_reqs + 6)),
        "dropped_iterations{scenario:browse}": (True, float(dropped)),
        "dropped_iterations{kind:read}": (False, 0.0),  # fact 4
        "dropped_iterations{team:web}": (True, float(dropped)),
        "http_reqs{nosuch:tag}": (False, 0.0),  # fact 9
        "http_req_duration{scenario:browse}": (True, seen["http_req_duration{scenario:browse}"][1]),
        "http_req_duration{scenario:admin}": (True, seen["http_req_duration{scenario:admin}"][1]),
    }
    assert [(r.name, r.state) for r in rows[0]] == [("browse", "running"), ("admin", "waiting")]
    assert [(r.name, r.state, r.iterations) for r in rows[-1]] == [
        ("browse", "done", browse_reqs),
        ("admin", "done", 6),
    ]


GROUPED = """name = "g"
base_url = "http://127.0.0.1:9"

[flow]
[[flow.steps]]
name = "home"
path = "/health"
[[flow.steps]]
name = "cart"
group = "checkout"
path = "/delay/20"
checks = [{ status = 200 }]
[[flow.steps]]
name = "pay"
group = "checkout"
path = "/nope"
checks = [{ status = 200 }]

[thresholds]
"group_duration{group:::checkout}" = ["avg>=20"]
"http_reqs{group:::checkout}" = ["count==8"]
"checks{group:::checkout}" = ["rate==0.5"]
"http_reqs{method:GET}" = ["count==12"]
"group_duration{group:::nosuch}" = ["avg>0"]
"""


async def test_a_group_is_timed_and_tags_its_steps(shared_sut: str, tmp_path: Path) -> None:
    """k6's groups (fact 7): group_duration by path, `group` on the requests and checks
    of its steps; an unknown group's trend is empty, judged 0 at the end."""
    path = tmp_path / "p.toml"
    path.write_text(GROUPED)
    plan = build_plan(load_profile(path, base_url=shared_sut), Overrides(iterations=4, vus=1))
    result = await asyncio.wait_for(Controller(plan).run(), 30)
    stats = result.model.groups()
    assert list(stats) == ["::checkout"] and stats["::checkout"].count == 4
    assert stats["::checkout"].min >= 20  # the pass through cart (20 ms) and pay
    verdicts = {s.threshold.key: s.ok for s in result.model.states}
    assert verdicts == {
        "group_duration{group:::checkout}": True,
        "http_reqs{group:::checkout}": True,
        "checks{group:::checkout}": True,
        "http_reqs{method:GET}": True,
        "group_duration{group:::nosuch}": False,
    }
