"""The report of a real run of several scenarios against `surge sut`: a section per
scenario and setup, a row each in the summary, k6's sub-metrics in --summary-export."""

from __future__ import annotations

import json
from pathlib import Path

from engine.report.document import read_report
from tests.conftest import run_surge

PROFILE = """name = "shop"
base_url = "http://127.0.0.1:9"

[setup]
[[setup.steps]]
name = "login"
path = "/health"

[scenarios.browse]
executor = "per-vu-iterations"
vus = 2
iterations = 3
tags = { kind = "read" }

[scenarios.buy]
executor = "shared-iterations"
vus = 1
iterations = 4
startTime = "300ms"
exec = "checkout"

[flow]
[[flow.steps]]
name = "cart"
path = "/health"
checks = [{ status = 200 }]
[[flow.steps]]
name = "pay"
path = "/nope"

[flows.checkout]
[[flows.checkout.steps]]
name = "look"
path = "/health"
[[flows.checkout.steps]]
name = "add"
path = "/health"
group = "basket"
checks = [{ status = 200, name = "added" }]
[[flows.checkout.steps]]
name = "order"
path = "/nope"
group = "basket"

[thresholds]
"iterations{scenario:browse}" = ["count==6"]
"http_reqs{scenario:buy}" = ["count==12"]
"http_reqs{group:::basket}" = ["count==8"]
"group_duration{group:::basket}" = ["avg>=0"]
"checks{scenario:browse}" = ["rate==1"]
"http_reqs{group:::setup}" = ["count==1"]
"http_req_duration{scenario:buy}" = ["p(95)>=0"]
"""


def test_a_run_of_several_scenarios_reports_and_exports_each(
    shared_sut: str, tmp_path: Path
) -> None:
    profile, report, export = tmp_path / "p.toml", tmp_path / "r.toml", tmp_path / "e.json"
    profile.write_text(PROFILE)
    proc = run_surge(
        "run",
        str(profile),
        "--base-url",
        shared_sut,
        "--report",
        str(report),
        "--summary-export",
        str(export),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    saved = read_report(report)
    assert saved.meta.executor == "scenarios"
    assert list(saved.scenarios) == ["(setup)", "browse", "buy"]  # as they ran
    setup, browse, buy = saved.scenarios.values()
    assert (browse.iterations, browse.requests, browse.failed) == (6, 12, 6)  # /nope: 404
    assert browse.tags == {"kind": "read"} and browse.checks["status is 200"].passes == 6
    assert (buy.iterations, buy.requests, buy.failed, buy.start_time_s) == (4, 12, 4, 0.3)
    assert (setup.requests, setup.iterations) == (1, 0)  # k6 counts no iteration for setup
    assert saved.summary.requests == 12 + 12 + 1
    basket = saved.groups["::basket"]  # two of checkout's three steps, one pass an iteration
    assert (basket.requests, basket.failed, basket.checks["added"].passes) == (8, 4, 4)
    assert basket.group_duration.max >= basket.group_duration.min > 0
    rows = [line.split() for line in proc.stdout.splitlines() if line.startswith("    b")]
    assert ["browse", "per-vu-iterations", "6", "0"] in [r[:4] for r in rows]
    assert max(len(line) for line in proc.stdout.splitlines()) <= 80
    metrics = json.loads(export.read_text())["metrics"]
    assert metrics["iterations{scenario:browse}"]["count"] == 6
    assert metrics["http_reqs{scenario:buy}"]["count"] == 12
    assert metrics["http_reqs{group:::setup}"]["count"] == 1
    assert metrics["http_reqs{group:::basket}"]["count"] == 8
    assert set(metrics["group_duration{group:::basket}"]) >= {"avg", "p(95)", "thresholds"}
    assert metrics["group_duration"]["max"] == basket.group_duration.max
    root = json.loads(export.read_text())["root_group"]
    assert root["groups"]["basket"]["checks"]["added"]["path"] == "::basket::added"
    assert root["checks"]["status is 200"]["passes"] == 6  # browse's, outside the group
    assert set(metrics["http_req_duration{scenario:buy}"]) >= {"avg", "p(95)", "thresholds"}
