"""`surge run --out`: a JSON object per interval, and a live Prometheus endpoint that the
real Prometheus server (Debian's `prometheus`, started here on 127.0.0.1) scrapes."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from engine.report.document import read_report
from engine.report.export import summary_data
from tests.conftest import ROOT, run_surge, surge_cmd

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_json_out_writes_each_interval_then_the_summary(shared_sut: str, tmp_path: Path) -> None:
    out, report = tmp_path / "run.jsonl", tmp_path / "run.toml"
    proc = run_surge(
        "run", shared_sut + "/", "--vus", "2", "--duration", "2s",
        "--out", f"json={out}", "--report", str(report),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    *intervals, last = lines
    assert {x["type"] for x in intervals} == {"interval"} and last["type"] == "summary"
    data = read_report(report)
    assert {k: v for k, v in last.items() if k != "type"} == summary_data(data)
    rows = [{k: v for k, v in x.items() if k != "type"} for x in intervals]
    assert sum(r["requests"] for r in rows) == data.summary.requests
    assert len(rows) == len(data.timeline) >= 2


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("prometheus=nowhere", "expected HOST:PORT"),
        ("prometheus=127.0.0.1:9464,every=1s", "unknown option 'every'"),
        ("statsd=127.0.0.1:8125", "unknown output 'statsd'"),
        ("json", "expected KIND=WHERE"),
    ],
)
def test_a_bad_out_is_one_line_and_exit_2(spec: str, message: str) -> None:
    proc = run_surge("run", "http://127.0.0.1:9/", "--out", spec)
    assert proc.returncode == 2
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def _query(prom: str, expr: str) -> list[dict]:
    url = f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())["data"]["result"]


@pytest.mark.timeout(60)
def test_a_real_prometheus_scrapes_a_live_run(shared_sut: str, tmp_path: Path) -> None:
    """Prometheus scrapes every 0.5 s; the run's last figures stay up 3 s after it ends,
    so its last sample of surge_http_reqs_total equals the report's count."""
    assert Path(PROMETHEUS).exists(), "prometheus missing: make test installs it"
    metrics_port, prom_port = _free_port(), _free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 500ms\n  scrape_timeout: 400ms\n"
        "scrape_configs:\n  - job_name: surge\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{metrics_port}']\n"
    )
    prom = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{prom_port}"
    try:
        deadline = time.monotonic() + 20
        while True:  # ready once its HTTP API answers
            try:
                with urllib.request.urlopen(f"{base}/-/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "prometheus did not start"
            time.sleep(0.1)
        report = tmp_path / "run.toml"
        run = subprocess.run(
            surge_cmd(
                "run", shared_sut + "/", "--vus", "2", "--duration", "2s", "--report",
                str(report), "--out", f"prometheus=127.0.0.1:{metrics_port},linger=3s",
            ),
            cwd=ROOT, capture_output=True, text=True, timeout=40,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        data = read_report(report)
        # last_over_time: once Surge exits its series are marked stale at the next scrape.
        result = _query(base, "last_over_time(surge_http_reqs_total[1m])")
        assert result, "no sample scraped"
        assert int(float(result[0]["value"][1])) == data.summary.requests > 0
        histogram = _query(
            base, 'last_over_time(surge_http_req_duration_seconds_bucket{le="+Inf"}[1m])'
        )
        assert int(float(histogram[0]["value"][1])) == data.summary.requests
        vus_max = _query(base, "last_over_time(surge_vus_max[1m])")
        assert float(vus_max[0]["value"][1]) == data.summary.vus_max == 2
    finally:
        prom.terminate()
        prom.wait(timeout=10)
