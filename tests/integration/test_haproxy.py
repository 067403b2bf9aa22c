"""Rollouts through a real HAProxy (Debian's) in front of two `surge sut --color` servers.

The config is the one `surge router start haproxy` writes; weights go over the runtime
API on a 0600 Unix socket; every figure is split by the `x-surge-upstream` header that
config adds. Each load is a bounded count of requests on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from engine.deploy.routers.haproxy import HaproxyProcess, HaproxyRouter, haproxy_binary
from engine.deploy.routers.launch import free_port, haproxy_setup, start_haproxy
from engine.deploy.strategies import Weights
from engine.exit_codes import EXIT_ROLLED_BACK
from engine.report.document import load_report
from tests.conftest import ROOT, surge_cmd
from tests.integration.routers import counts, load, require

STEPS = [10, 25, 50]
REQUESTS = 1000


@pytest.fixture(scope="module", autouse=True)
def _haproxy() -> None:
    require("haproxy", haproxy_binary())


Started = tuple[HaproxyProcess, HaproxyRouter, str]


@pytest.fixture
def haproxy(tmp_path: Path) -> Iterator[Callable[[str, str], Started]]:
    procs: list[HaproxyProcess] = []

    def start(blue: str, green: str) -> Started:
        port = free_port()
        setup = haproxy_setup(
            [blue], [green], listen_port=port, socket_path=str(tmp_path / "h.sock")
        )
        proc, router = start_haproxy(setup, tmp_path / "haproxy.cfg")
        procs.append(proc)
        return proc, router, f"http://127.0.0.1:{port}"

    yield start
    for p in procs:
        p.stop()


def test_canary_weights_are_the_measured_shares_within_one_point(
    sut: Callable[..., str], haproxy: Callable[[str, str], Started], tmp_path: Path
) -> None:
    _, router, url = haproxy(sut("--color", "blue"), sut("--color", "green"))
    mode = stat.S_IMODE(os.stat(router.api.socket).st_mode)
    assert mode == 0o600, oct(mode)  # the runtime API: only its user

    async def steps() -> list[float]:
        shares = []
        for green in STEPS:
            await router.set_weights(Weights.green_percent(green))
            c = counts(await load(url, REQUESTS))
            total = sum(n for n, _ in c.values())
            assert total == REQUESTS and all(f == 0 for _, f in c.values())
            shares.append(100 * c.get("green", (0, 0))[0] / total)
        return shares

    shares = asyncio.run(steps())
    print("haproxy measured green shares", dict(zip(STEPS, shares, strict=True)))
    for wanted, got in zip(STEPS, shares, strict=True):
        assert abs(got - wanted) <= 1.0, (wanted, got)


def test_header_rule_sends_green_only_whatever_the_weights(
    sut: Callable[..., str], haproxy: Callable[[str, str], Started]
) -> None:
    url = haproxy(sut("--color", "blue"), sut("--color", "green"))[2]

    with httpx.Client(trust_env=False) as c:
        seen = {
            c.get(url, headers={"x-surge-color": "green"}).headers["x-surge-upstream"]
            for _ in range(20)
        }
        default = {c.get(url).headers["x-surge-upstream"] for _ in range(20)}
    assert seen == {"green"} and default == {"blue"}  # weights are 100:0


def test_a_green_instance_killed_mid_step_is_seen_as_green_errors(
    haproxy: Callable[[str, str], Started],
) -> None:
    from tests.conftest import spawn_sut

    blue, blue_url = spawn_sut("--color", "blue")
    green, green_url = spawn_sut("--color", "green")
    try:
        _, router, url = haproxy(blue_url, green_url)

        async def step() -> dict[str, tuple[int, int]]:
            await router.set_weights(Weights(50, 50))
            first = counts(await load(url, 200))
            assert first["green"][1] == 0
            green.kill()
            green.wait()
            return counts(await load(url, 400))

        after = asyncio.run(step())
    finally:
        for p in (blue, green):
            if p.poll() is None:
                p.kill()
    assert after["blue"] == (200, 0), after  # blue untouched: nothing shifted to it
    assert after["green"] == (200, 200), after  # every green request an error of green


def profile(tmp_path: Path, blue: str, green: str, port: int, sock: Path) -> Path:
    path = tmp_path / "haproxy-rollout.toml"
    path.write_text(
        f"""
name = "haproxy-rollout"
base_url = "http://127.0.0.1:{port}"

[[endpoints]]
path = "/"

[deploy]
router = "haproxy"
socket = "{sock}"
blue = ["{blue}"]
green = ["{green}"]
proxy_port = {port}
strategy = "canary"
steps = [20, 50, 100]
interval = "1s"
min_requests = 10
max_p99_ms = 30
max_p99_ratio = 4.0
""",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(("flaw", "outcome"), [("errors", "rolled_back"), ("none", "promoted")])
def test_surge_run_drives_a_canary_through_haproxy(
    sut: Callable[..., str],
    haproxy: Callable[[str, str], Started],
    tmp_path: Path,
    flaw: str,
    outcome: str,
) -> None:
    green_args = ("--error-rate", "0.1") if flaw == "errors" else ()
    blue, green = sut("--color", "blue"), sut("--color", "green", *green_args)
    _, router, url = haproxy(blue, green)
    port = int(url.rsplit(":", 1)[1])
    path = profile(tmp_path, blue, green, port, Path(router.api.socket))
    report = tmp_path / "r.toml"
    proc = subprocess.run(
        surge_cmd("run", str(path), "--rate", "100", "--duration", "3.5s", "--report", str(report)),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    expected = EXIT_ROLLED_BACK if outcome == "rolled_back" else 0
    assert proc.returncode == expected, proc.stdout + proc.stderr
    deploy = load_report(report)["deploy"]
    assert deploy["outcome"] == outcome and "haproxy" in deploy["router"]
    first = deploy["steps"][0]
    assert first["weights"] == [80, 20] and first["green"]["requests"] >= 10
    final = asyncio.run(router.api.command("show servers state surge"))
    weights = {
        line.split()[3]: int(line.split()[7])
        for line in final.splitlines()[1:]
        if line.strip() and not line.startswith("#")
    }
    assert weights == (
        {"blue-0": 1, "green-0": 0} if flaw == "errors" else {"blue-0": 0, "green-0": 1}
    )
