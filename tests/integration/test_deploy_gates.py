"""Issue 31's metrics and hooks on real processes: `surge run PROFILE` through the real
proxy in front of two `surge sut`s, a real Prometheus (Debian's) scraping the colors'
`/metrics`, httpbin for a web metric, a local http.server taking a webhook's POST, and
hook commands that refuse, sleep and are killed.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
import tracemalloc
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from engine.deploy.driver import DeployDriver
from engine.deploy.gates.hooks import OUTPUT_LIMIT, run_hook
from engine.deploy.gates.rollout import RolloutGates
from engine.deploy.gates.spec import GatesPlan, HookSpec
from engine.deploy.strategies import Event, EventKind, Linear
from engine.deploy.strategies import Phase as StrategyPhase
from engine.exit_codes import EXIT_GATE_REFUSED, EXIT_ROLLED_BACK
from engine.report.deploy_section import Outcome
from engine.report.document import read_report
from tests.conftest import ROOT, surge_cmd
from tests.integration.nginx import free_port
from tests.integration.test_observe import PROMETHEUS, _ready, _scraped
from tests.integration.test_rollout_record import port_of, weights
from tui.cli.demo_stack import DemoStack

pytestmark = pytest.mark.timeout(60)

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A green that errs 10% of the time and one that does not, each behind its proxy,
    and one Prometheus scraping each green every 0.5 s (jobs bad, good), started at
    once: its first scrape (~5 s) goes on while the hook tests run."""
    assert Path(PROMETHEUS).exists(), "prometheus missing: scripts/install-tools.sh"
    with DemoStack("errors") as bad, DemoStack("none") as good:
        folder = tmp_path_factory.mktemp("prometheus")
        jobs = "".join(
            f"  - job_name: {name}\n    static_configs:\n"
            f"      - targets: ['{stack.green_url.removeprefix('http://')}']\n"
            for name, stack in (("bad", bad), ("good", good))
        )
        config = folder / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 500ms\n  scrape_timeout: 400ms\nscrape_configs:\n" + jobs
        )
        port = free_port()
        cmd = [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            yield {"bad": bad, "good": good, "prometheus": (proc, f"http://127.0.0.1:{port}")}
        finally:
            proc.terminate()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def prometheus(stacks: dict[str, Any]) -> str:
    """The module's Prometheus, once it has scraped."""
    proc, base = stacks["prometheus"]
    _ready(f"{base}/-/ready", proc, "prometheus")
    _scraped(base, proc)
    return str(base)


class _Webhook(BaseHTTPRequestHandler):
    bodies: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        type(self).bodies.append(json.loads(body))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local http.server on 127.0.0.1 answering 200 to each POST, keeping its body."""
    _Webhook.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/gate", _Webhook.bodies
    finally:
        server.shutdown()
        server.server_close()


def _profile(folder: Path, stack: DemoStack, extra: str, interval: str = "2s") -> Path:
    """One window at 50% green (2 s: Prometheus' rate needs two scrapes), then the
    promotion; Surge's own bounds loose, so only the metrics and hooks decide."""
    to_all_blue = urllib.request.Request(
        stack.admin_url + "/weights",
        data=b'{"blue": 100, "green": 0}',
        headers={"content-type": "application/json"},
        method="PUT",
    )
    OPENER.open(to_all_blue, timeout=5).close()
    path = folder / "rollout.toml"
    path.write_text(
        f"""
name = "gated"
base_url = "{stack.proxy_url}"

[[endpoints]]
path = "/"

[deploy]
blue = ["{stack.blue_url}"]
green = ["{stack.green_url}"]
proxy_port = {port_of(stack.proxy_url)}
admin_port = {port_of(stack.admin_url)}
strategy = "canary"
steps = [50]
interval = "{interval}"
min_requests = 10
min_success_rate = 0.5
max_success_drop = 0.9
max_p99_ms = 1000
max_p99_ratio = 100.0
{extra}
""",
        encoding="utf-8",
    )
    return path


def _run(profile: Path, seconds: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    report = profile.with_suffix(".report.toml")
    argv = ["run", str(profile), "--rate", "100", "--duration", seconds, "--report", str(report)]
    proc = subprocess.run(surge_cmd(*argv), cwd=ROOT, capture_output=True, text=True, timeout=60)
    return proc, read_report(report).table()["deploy"]


def _error_rate(prometheus: str, job: str) -> str:
    query = (
        f'sum(rate(sut_injected_errors_total{{job="{job}"}}[2s])) / '
        f'sum(rate(sut_requests_total{{job="{job}"}}[2s]))'
    )
    return (
        f"[[deploy.metrics]]\nname = 'error_rate'\nprometheus = '{prometheus}'\n"
        f"query = '{query}'\nfailure = 'result >= 0.05'\nevery = '0.5s'\n"
    )


def test_a_refusing_command_gate_rolls_back_and_calls_on_rollback(
    stacks: dict[str, Any], tmp_path: Path
) -> None:
    extra = (
        "[deploy.hooks]\n"
        "pre_promotion = { command = ['sh', '-c', 'echo green is not ready; exit 3'] }\n"
        "on_rollback = { command = ['touch', 'rolled-back.flag'] }\n"
    )
    proc, deploy = _run(_profile(tmp_path, stacks["good"], extra, "1s"), "2s")
    assert proc.returncode == EXIT_GATE_REFUSED, proc.stdout + proc.stderr
    assert weights(stacks["good"]) == {"blue": 100, "green": 0}
    assert deploy["outcome"] == "gate_refused"
    hooks = {h["hook"]: h for h in deploy["hooks"]}
    refused = hooks["pre_promotion"]
    assert refused["result"] == "refused" and refused["exit_status"] == 3
    assert refused["output"] == "green is not ready\n"
    assert hooks["on_rollback"]["result"] == "allowed"
    assert (tmp_path / "rolled-back.flag").exists()
    rolled = [e for e in deploy["events"] if e["kind"] == "rolled back"]
    assert "pre_promotion refused: exit 3: green is not ready" in rolled[0]["message"]
    assert "gate refused" in proc.stdout


def _alive(pid: int) -> bool:
    """Running (a zombie, killed and waiting for init to reap it, is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_gate_that_sleeps_is_killed_when_surge_is_stopped(
    stacks: dict[str, Any], tmp_path: Path
) -> None:
    """Ctrl+C while pre_promotion sleeps: the hook's process is gone with Surge."""
    extra = (
        "[deploy.hooks]\n"
        "pre_promotion = { command = ['sh', '-c', 'echo $$ > hook.pid; exec sleep 30'], "
        "timeout = '50s' }\n"
    )
    profile = _profile(tmp_path, stacks["good"], extra, "1s")
    argv = ["run", str(profile), "--rate", "50", "--duration", "30s"]
    proc = subprocess.Popen(
        surge_cmd(*argv), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    pid_file = tmp_path / "hook.pid"
    try:
        deadline = time.monotonic() + 20
        while not pid_file.exists() or not pid_file.read_text().strip():
            assert proc.poll() is None and time.monotonic() < deadline, "the gate never ran"
            time.sleep(0.1)
        pid = int(pid_file.read_text())
        assert _alive(pid)
        proc.send_signal(2)  # SIGINT: Ctrl+C
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not _alive(pid)


async def test_a_hook_past_its_timeout_is_killed_with_its_children(tmp_path: Path) -> None:
    spec = HookSpec(
        "pre_rollout", command=("sh", "-c", "sleep 30 & echo $! > child.pid; wait"), timeout=0.5
    )
    row = await run_hook(spec, tmp_path, {})
    assert row.result == "timed out" and 0.4 < row.seconds < 5
    child = int((tmp_path / "child.pid").read_text())
    deadline = time.monotonic() + 5  # SIGKILL is delivered, not awaited: its effect is
    while _alive(child) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not _alive(child)  # its process group went whole, not just the shell


def test_a_prometheus_metric_fails_an_erring_green_that_surges_bounds_pass(
    stacks: dict[str, Any], prometheus: str, tmp_path: Path
) -> None:
    profile = _profile(tmp_path, stacks["bad"], _error_rate(prometheus, "bad"))
    proc, deploy = _run(profile, "2.5s")
    assert proc.returncode == EXIT_ROLLED_BACK, proc.stdout + proc.stderr
    assert weights(stacks["bad"]) == {"blue": 100, "green": 0}
    step = deploy["steps"][0]
    assert step["verdict"] == "failed" and "error_rate: result 0.0" in step["reason"]
    assert 'meets failure "result >= 0.05"' in step["reason"]
    assert "success rate" not in step["reason"]  # Surge's own bounds passed it
    (metric,) = deploy["metrics"]
    assert metric["provider"] == "prometheus" and metric["windows"][0]["verdict"] == "failed"
    values = [m["value"] for m in metric["measurements"] if "value" in m]
    assert values and 0.05 <= max(values) <= 0.15  # green's 10%, as Prometheus saw it
    shown = subprocess.run(
        surge_cmd("report", "show", str(profile.with_suffix(".report.toml")), "--no-plots"),
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert "metric error_rate (prometheus): 0/1/0 windows" in shown.stdout


def test_metrics_and_a_webhook_gate_pass_a_good_green(
    stacks: dict[str, Any],
    prometheus: str,
    httpbin: str,
    webhook: tuple[str, list[dict[str, Any]]],
    tmp_path: Path,
) -> None:
    url, bodies = webhook
    extra = (
        _error_rate(prometheus, "good")
        + f"[[deploy.metrics]]\nname = 'queue'\nweb = '{httpbin}/anything?depth=3'\n"
        + "json = '$.args.depth'\nsuccess = 'result < 10'\nevery = '0.5s'\ncount = 2\n"
        + "[deploy.hooks]\n"
        + f"pre_promotion = {{ url = '{url}', metadata = {{ team = 'web' }} }}\n"
        + "post_promotion = { command = ['touch', 'promoted.flag'] }\n"
    )
    proc, deploy = _run(_profile(tmp_path, stacks["good"], extra), "3s")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert weights(stacks["good"]) == {"blue": 0, "green": 100}
    assert deploy["outcome"] == "promoted" and deploy["steps"][0]["verdict"] == "passed"
    assert {m["name"]: m["windows"][0]["verdict"] for m in deploy["metrics"]} == {
        "error_rate": "passed",
        "queue": "passed",
    }
    (body,) = bodies  # Flagger's shape
    assert body["name"] == "gated" and body["phase"] == "Promoting"
    assert body["type"] == "confirm-promotion" and body["namespace"] == "surge"
    assert body["metadata"]["team"] == "web" and body["metadata"]["weights"] == "50:50"
    hooks = {h["hook"]: h for h in deploy["hooks"]}
    assert hooks["pre_promotion"]["result"] == "allowed"
    assert hooks["pre_promotion"]["exit_status"] == 200
    assert hooks["post_promotion"]["result"] == "allowed"
    assert (tmp_path / "promoted.flag").exists()  # run in the profile's folder


@pytest.mark.parametrize(("command", "started"), [("true", True), ("false", False)])
async def test_pre_rollout_starts_the_rollout_or_refuses_before_any_weight_moves(
    tmp_path: Path, command: str, started: bool
) -> None:
    heard = asyncio.Event()

    def on_event(at: float, e: Event, row: object) -> None:
        if e.kind is EventKind.HOOK:
            heard.set()

    driver = DeployDriver(Linear(50, 60.0), None, on_event=on_event)
    plan = GatesPlan(hooks={"pre_rollout": HookSpec("pre_rollout", command=(command,))})
    gates = RolloutGates(plan, cwd=tmp_path, name="t", note=driver.note, state=driver.state)
    driver.attach_gates(gates)
    assert driver.start().phase is StrategyPhase.READY  # the hook answers first
    await asyncio.wait_for(heard.wait(), 10)
    assert driver.phase is (StrategyPhase.RUNNING if started else StrategyPhase.READY)
    assert driver.weights.green == (50 if started else 0)
    driver.start()  # asked once: a second start runs no second hook
    record = await driver.finish()
    assert record is not None and [h.hook for h in record.hooks] == ["pre_rollout"]
    assert (record.outcome is Outcome.GATE_REFUSED) is not started


class _Trickle(BaseHTTPRequestHandler):
    """Answers 200 at once, then a byte every 0.3 s for ~6 s: each read is quick."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        self.send_response(200)
        self.send_header("content-length", "20")
        self.end_headers()
        for _ in range(20):
            try:
                self.wfile.write(b"x")
                self.wfile.flush()
            except OSError:
                return
            time.sleep(0.3)

    def log_message(self, *args: object) -> None:
        pass


async def test_a_trickling_webhook_is_cut_at_its_timeout() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        row = await run_hook(HookSpec("pre_promotion", url=url, timeout=1.0), ROOT, {})
    finally:
        server.shutdown()
        server.server_close()
    assert row.result == "timed out" and row.seconds < 1.5


async def test_a_command_printing_10_mb_keeps_only_its_end(tmp_path: Path) -> None:
    script = "import sys; sys.stdout.write('a' * 10_000_000 + 'the end'); sys.exit(3)"
    spec = HookSpec("pre_rollout", command=(sys.executable, "-c", script), timeout=20)
    tracemalloc.start()
    try:
        row = await run_hook(spec, tmp_path, {})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000  # read in chunks, its end kept: never the 10 MB whole
    assert (row.result, row.exit_status) == ("refused", 3)
    assert len(row.output) == OUTPUT_LIMIT and row.output.endswith("the end")
