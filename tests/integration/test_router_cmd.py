"""`surge router start haproxy|envoy PROFILE` and `surge demo --router`: one command
each, the real router, nothing left running afterwards."""

from __future__ import annotations

import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from engine.deploy.routers.envoy import envoy_binary
from engine.deploy.routers.haproxy import haproxy_binary
from engine.deploy.routers.launch import free_port
from engine.exit_codes import EXIT_ROLLED_BACK
from tests.conftest import ROOT, surge_cmd
from tests.integration.routers import require

BINARIES = {"haproxy": haproxy_binary, "envoy": envoy_binary}


def profile(tmp_path: Path, blue: str, green: str, kind: str) -> tuple[Path, int]:
    port = free_port()
    sock = tmp_path / f"{kind}.sock"
    path = tmp_path / "p.toml"
    path.write_text(
        f"""
name = "p"
base_url = "http://127.0.0.1:{port}"
[[endpoints]]
path = "/"
[deploy]
router = "{kind}"
socket = "{sock}"
blue = ["{blue}"]
green = ["{green}"]
proxy_port = {port}
""",
        encoding="utf-8",
    )
    return path, port


@pytest.mark.parametrize("kind", ["haproxy", "envoy"])
def test_router_start_writes_the_config_and_serves_until_sigterm(
    kind: str, sut: Callable[..., str], tmp_path: Path
) -> None:
    require(kind, BINARIES[kind]())
    path, port = profile(tmp_path, sut("--color", "blue"), sut("--color", "green"), kind)
    shown = subprocess.run(
        surge_cmd("router", "start", kind, str(path), "--config-only"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert shown.returncode == 0, shown.stderr
    assert "x-surge-upstream" in shown.stdout and str(port) in shown.stdout
    assert ("mode 600 level admin" if kind == "haproxy" else '"mode": 384') in shown.stdout
    proc = subprocess.Popen(
        surge_cmd("router", "start", kind, str(path)),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()))  # type: ignore[union-attr]
        reader.start()
        reader.join(30)
        assert line and f"{kind} listening on http://127.0.0.1:{port}" in line[0], line
        with httpx.Client(trust_env=False) as c:
            answers = {
                c.get(f"http://127.0.0.1:{port}/").headers["x-surge-upstream"] for _ in range(5)
            }
            smoke = c.get(f"http://127.0.0.1:{port}/", headers={"x-surge-color": "green"})
        assert answers == {"blue"} and smoke.headers["x-surge-upstream"] == "green"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=2)  # the router went with it


@pytest.mark.parametrize("kind", ["haproxy", "envoy"])
def test_headless_demo_through_a_router_rolls_a_flawed_green_back(kind: str) -> None:
    require(kind, BINARIES[kind]())
    proc = subprocess.run(
        surge_cmd(
            "demo",
            "--headless",
            "--router",
            kind,
            "--green-flaw",
            "errors",
            "--time-scale",
            "0.005",
        ),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == EXIT_ROLLED_BACK, proc.stdout + proc.stderr
    assert f"through {kind}" in proc.stdout and "rolled back" in proc.stdout
    assert "█ DEPLOY" in proc.stdout
