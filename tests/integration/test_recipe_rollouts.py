"""Rollouts that really deploy, on 127.0.0.1: instances started from commands (the demo
SUT and a small app written here), replaced batch by batch through `surge proxy`.

Each rollout is a few seconds with 0.3 s steps; load runs through the proxy meanwhile
(40 req/s), so a drained instance that still got requests, or a color given a share
before it had an instance, shows as a failed request, not as a timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from engine.deploy.driver import DeployDriver
from engine.deploy.fleet import Fleet, Wanted
from engine.deploy.instances import Launcher
from engine.deploy.marks import Mark, ModelFigures, RunFigures
from engine.deploy.recipe import Recipe
from engine.deploy.routers import SurgeProxyRouter
from engine.deploy.smoke import SmokeTarget
from engine.deploy.strategies import (
    ALL_BLUE,
    ALL_GREEN,
    Analysis,
    Linear,
    Phase,
    Rolling,
    RollingWithAdditionalBatch,
    Strategy,
    Switch,
)
from tests.conftest import ROOT, surge_cmd
from tests.recipe_fixtures import alive, app, app_command, pids_of, proxy

__all__ = ["proxy"]  # the fixture

SUT = (sys.executable, "-m", "tui.cli.sut_cmd", "--port", "{port}", "--color")


class NoFigures(ModelFigures):
    """Windows with nothing in them: these rollouts are judged on instances, not figures."""

    def __call__(self, run: RunFigures | None, color: str, t: float) -> Mark:
        return Mark()


async def load(url: str, stop: asyncio.Event, statuses: Counter[int]) -> None:
    """40 req/s through the proxy until `stop`; each answer's status counted."""
    async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
        while not stop.is_set():
            try:
                statuses[(await client.get(url)).status_code] += 1
            except httpx.HTTPError:
                statuses[0] += 1
            await asyncio.sleep(0.025)


@dataclass
class Rolled:
    """A rollout's end: the driver (its fleet closed), the load's statuses, blue's pids
    before the rollout, and the instances running when it ended."""

    driver: DeployDriver
    statuses: Counter[int]
    first_blue: list[int]
    running: dict[str, list[str]]


async def roll(
    strategy: Strategy,
    recipes: dict[str, Recipe],
    admin_url: str,
    proxy_url: str,
    tmp_path: Path,
    *,
    scale_down_delay: float = 0.0,
    canary_instances: int = 1,
    until: float = 30.0,
) -> Rolled:
    """Blue up, the rollout to its end (and the scale-down after it), under load."""
    router = SurgeProxyRouter(admin_url)
    fleet = Fleet(Launcher(recipes, tmp_path / "logs"), router, drain_s=0.2)
    driver = DeployDriver(
        strategy,
        router,
        fleet=fleet,
        figures_of=NoFigures(),
        scale_down_delay=scale_down_delay,
        canary_instances=canary_instances,
    )
    statuses: Counter[int] = Counter()
    stop = asyncio.Event()
    try:
        await driver.prepare()
        first = [i.pid for i in fleet.running("blue")]
        loader = asyncio.create_task(load(proxy_url + "/", stop, statuses))
        driver.start()
        deadline = time.monotonic() + until
        while time.monotonic() < deadline:
            driver.observe(None)
            settled = not driver.moving and driver.strategy.done
            if settled and not (fleet.running("blue") and driver.phase is Phase.PROMOTED):
                break
            await asyncio.sleep(0.05)
        stop.set()
        await loader
        running = {c: [i.name for i in fleet.running(c)] for c in ("blue", "green")}
    finally:
        await driver.aclose()
    return Rolled(driver, statuses, first, running)


def lowest(driver: DeployDriver) -> int:
    assert driver.fleet is not None
    return min(c.serving for c in driver.fleet.history)


@pytest.mark.parametrize(
    ("cls", "floor", "peak"), [(Rolling, 2, 3), (RollingWithAdditionalBatch, 3, 4)]
)
async def test_a_rolling_deploy_replaces_three_instances(
    tmp_path: Path, proxy: tuple[str, str], cls: type[Rolling], floor: int, peak: int
) -> None:
    """3 blue demo SUTs become 3 green ones; no blue process is left; capacity never
    drops below 2 (3 with an additional batch); no request through the proxy failed."""
    proxy_url, admin_url = proxy
    recipes = {
        c: Recipe((*SUT, c), 3, workdir=str(ROOT), stop_grace=2.0) for c in ("blue", "green")
    }
    r = await roll(cls(3, 1, 0.3), recipes, admin_url, proxy_url, tmp_path)
    assert r.driver.phase is Phase.PROMOTED
    assert r.running == {"blue": [], "green": ["green-0", "green-1", "green-2"]}
    assert len(r.first_blue) == 3 and not any(map(alive, r.first_blue))
    assert r.driver.fleet is not None and r.driver.fleet.peak == peak
    assert lowest(r.driver) == floor
    assert r.statuses[200] > 50 and set(r.statuses) == {200}, r.statuses


async def test_a_batch_that_never_becomes_healthy_rolls_back(
    tmp_path: Path, proxy: tuple[str, str]
) -> None:
    """Plain rolling: blue-0 goes, green-0 never answers its health check: the rollout
    rolls back, blue-0 starts again, and no green process is left."""
    proxy_url, admin_url = proxy
    recipes = {"blue": app(tmp_path), "green": app(tmp_path, "--never-healthy", timeout=1.0)}
    r = await roll(Rolling(3, 1, 0.3), recipes, admin_url, proxy_url, tmp_path)
    assert r.driver.phase is Phase.ROLLED_BACK
    assert r.running == {"blue": ["blue-0", "blue-1", "blue-2"], "green": []}
    reasons = " ".join(e.message for e in r.driver.events)
    assert "green-0 not healthy after 1s" in reasons
    assert pids_of(tmp_path, "green") and not any(map(alive, pids_of(tmp_path, "green")))
    assert len(pids_of(tmp_path, "blue")) == 3  # blue-0 was restarted: its pid file rewritten
    assert set(r.statuses) == {200}, r.statuses


async def test_a_canary_starts_its_instances_and_grows_green_with_its_weight(
    tmp_path: Path, proxy: tuple[str, str]
) -> None:
    """4 per color, green +25% a step: 1 green instance (canary_instances) at 25%, 2 at
    50%, 3 at 75%, all 4 at promotion; blue keeps all 4 until then, and then stops."""
    proxy_url, admin_url = proxy
    recipes = {"blue": app(tmp_path, instances=4), "green": app(tmp_path, instances=4)}
    r = await roll(Linear(25, 0.3), recipes, admin_url, proxy_url, tmp_path)
    assert r.driver.phase is Phase.PROMOTED and r.running["blue"] == []
    assert r.driver.fleet is not None
    steps = [(c.blue, c.green) for c in r.driver.fleet.history]
    assert steps == [(4, 0), (4, 1), (4, 2), (4, 3), (4, 4), (0, 4)], steps
    assert set(r.statuses) == {200}, r.statuses


async def test_blue_green_keeps_blue_until_promotion_plus_the_delay(
    tmp_path: Path, proxy: tuple[str, str]
) -> None:
    """The whole green set starts beside blue and is smoke-tested (only once it serves:
    the smoke passes); blue keeps running scale_down_delay after the switch, then stops."""
    proxy_url, admin_url = proxy
    recipes = {"blue": app(tmp_path, instances=2), "green": app(tmp_path, instances=2)}
    router = SurgeProxyRouter(admin_url)
    fleet = Fleet(Launcher(recipes, tmp_path / "logs"), router, drain_s=0.1)
    smoke = Analysis(interval=1.0, min_requests=10, max_inconclusive=5)
    driver = DeployDriver(
        Switch(smoke),
        router,
        fleet=fleet,
        figures_of=NoFigures(),
        scale_down_delay=1.5,
        smoke_target=SmokeTarget(proxy_url + "/"),
    )
    try:
        await driver.prepare()
        blue = pids_of(tmp_path, "blue")
        driver.start()
        deadline = time.monotonic() + 20
        while driver.phase is not Phase.PROMOTED and time.monotonic() < deadline:
            driver.observe(None)
            assert driver.phase is not Phase.ROLLED_BACK, [e.message for e in driver.events]
            await asyncio.sleep(0.05)
        assert driver.phase is Phase.PROMOTED
        assert len(blue) == 2 and all(map(alive, blue))
        await driver.flush()
        assert len(fleet.running("green")) == 2 and fleet.peak == 4
        async with httpx.AsyncClient(trust_env=False) as client:
            answers = {(await client.get(proxy_url + "/")).text for _ in range(8)}
        assert answers == {"green-0", "green-1"}  # switched: blue serves nothing, but runs
        assert all(map(alive, blue))
        while fleet.running("blue") and time.monotonic() < deadline:
            driver.observe(None)
            await asyncio.sleep(0.05)
        await driver.flush()
        assert driver.promoted_at is not None and time.monotonic() - driver.promoted_at >= 1.5
        assert not any(map(alive, blue)) and len(fleet.running("green")) == 2
    finally:
        await driver.aclose()
    assert not any(map(alive, pids_of(tmp_path, "green")))


async def test_a_drained_instance_finishes_its_requests_in_flight_before_it_stops(
    tmp_path: Path, proxy: tuple[str, str]
) -> None:
    """A request 1.5 s long is on blue-0 when the fleet moves to green: the drain waits for
    it (the proxy counts it in flight), so it gets its answer, and only then blue-0 stops."""
    proxy_url, admin_url = proxy
    recipes = {"blue": app(tmp_path, instances=1), "green": app(tmp_path, instances=1)}
    router = SurgeProxyRouter(admin_url)
    fleet = Fleet(Launcher(recipes, tmp_path / "logs"), router, drain_s=0.0)
    try:
        await fleet.converge(Wanted((0,), ()), ALL_BLUE)
        async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
            slow = asyncio.create_task(client.get(proxy_url + "/slow"))
            while not (await router.in_flight(["blue-0"]) or {}).get("blue-0"):
                await asyncio.sleep(0.02)
            blue = fleet.running("blue")[0]
            await fleet.converge(Wanted((), (0,)), ALL_GREEN)
            assert slow.done()  # the move waited for it
            answer = await slow
        assert (answer.status_code, answer.text) == (200, "blue-0")
        assert not blue.alive and [i.name for i in fleet.running("green")] == ["green-0"]
    finally:
        await fleet.aclose()
        await router.aclose()


async def test_the_proxy_takes_new_instances_by_post_and_refuses_bad_ones(
    proxy: tuple[str, str],
) -> None:
    _, admin_url = proxy
    async with httpx.AsyncClient(trust_env=False) as client:
        added = await client.post(
            admin_url + "/instances", json={"color": "green", "url": "http://127.0.0.1:9"}
        )
        again = await client.post(
            admin_url + "/instances", json={"color": "green", "url": "http://127.0.0.1:9"}
        )
        bad = await client.post(
            admin_url + "/instances", json={"color": "red", "url": "http://127.0.0.1:9"}
        )
        path = await client.post(
            admin_url + "/instances", json={"color": "blue", "url": "http://127.0.0.1:9/x"}
        )
    assert added.status_code == 200 and added.json()["index"] == 0
    assert again.json()["index"] == 0  # an address in service is not added twice
    assert bad.status_code == 400 and "unknown color" in bad.json()["error"]
    assert path.status_code == 400


def recipe_profile(tmp_path: Path, proxy: tuple[str, str], deploy: str, *, instances: int) -> Path:
    """A profile for `surge run`: 2 VUs for 6 s through the proxy, the small app as both
    colors' recipe (green answering 500 but to /health), 1 s windows of 10 requests."""
    proxy_url, admin_url = proxy
    command = app_command(tmp_path)
    profile = tmp_path / "p.toml"
    head = f"""
        name = "recipes"
        base_url = "{proxy_url}"
        [load]
        executor = "constant-vus"
        vus = 2
        duration = "6s"
        [deploy]
        interval = "1s"
        min_requests = 10
        proxy_port = {proxy_url.rsplit(":", 1)[1]}
        admin_port = {admin_url.rsplit(":", 1)[1]}
        """
    colors = f"""
        [deploy.blue]
        command = {command!r}
        instances = {instances}
        [deploy.green]
        command = {[*command, "--errors"]!r}
        instances = {instances}
        health = {{ path = "/health", timeout = "5s" }}
        """
    text = textwrap.dedent(head) + deploy + "\n" + textwrap.dedent(colors)
    profile.write_text(text.replace("'", '"'))
    return profile


def test_a_failed_analysis_rolls_surge_run_back_and_stops_green(
    tmp_path: Path, proxy: tuple[str, str]
) -> None:
    """`surge run PROFILE`: green answers 500 (its health aside), the first window with a
    green instance fails, the rollout rolls back (exit 3), blue runs again in full, no
    green process is left, and each instance's log is beside the report."""
    profile = recipe_profile(
        tmp_path, proxy, 'strategy = "rolling"\nmin_success_rate = 0.99', instances=2
    )
    report = tmp_path / "out" / "run.toml"
    report.parent.mkdir()
    env = {**os.environ, "NO_COLOR": "1"}
    done = subprocess.run(
        surge_cmd("run", str(profile), "--quiet", "--report", str(report)),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 3, out
    assert "rolled back: 1 failed analysis (limit 1)" in out, out
    assert "instance stopped: green-0 stopped" in out, out
    green = pids_of(tmp_path, "green")
    assert green and not any(map(alive, green)), out
    assert not any(map(alive, pids_of(tmp_path, "blue")))  # the run's end stopped blue too
    logs = sorted(p.name for p in (tmp_path / "out" / "run-instances").glob("*.log"))
    assert logs == ["blue-0.log", "blue-1.log", "green-0.log"], logs
    # what it cost: blue-0 drained (1 serving), green-0 in, then blue-0 again beside both
    fleet = tomllib.loads(report.read_text())["deploy"]["fleet"]
    assert (fleet["peak_instances"], fleet["lowest_serving"]) == (3, 1), fleet
    serving = [(c["blue"], c["green"]) for c in fleet["capacity"]]
    assert serving[:3] == [(2, 0), (1, 0), (1, 1)], serving


def test_a_baseline_starts_with_the_canary_and_green_is_judged_against_it(
    tmp_path: Path, proxy: tuple[str, str]
) -> None:
    """`baseline = true`: a fresh blue instance starts beside green-0, takes the canary's
    share under its own tag, the window judges green against it ("baseline's"), and it
    stops with the canary at the rollback, leaving no process."""
    deploy = 'strategy = "canary"\nsteps = [50, 100]\nbaseline = true\nmin_success_rate = 0.5'
    profile = recipe_profile(tmp_path, proxy, deploy, instances=1)
    report = tmp_path / "run.toml"
    done = subprocess.run(
        surge_cmd("run", str(profile), "--quiet", "--report", str(report)),
        cwd=ROOT,
        env={**os.environ, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 3, out
    assert "baseline: 1 x" in out  # announced with the other commands
    assert "baseline-0 serving on" in out and "instance stopped: baseline-0 stopped" in out
    assert "vs baseline's 100.00%" in out, out  # green's 0% next to the baseline's 100%
    baseline = pids_of(tmp_path, "baseline")
    assert len(baseline) == 1 and not any(map(alive, baseline + pids_of(tmp_path, "green")))
    data = tomllib.loads(report.read_text())
    by_upstream = {u: v["requests"] for u, v in data["upstreams"].items()}
    assert by_upstream.get("baseline", 0) >= 10, by_upstream  # its answers, tagged apart


def test_sigterm_mid_rollout_leaves_no_instance_running(
    tmp_path: Path, proxy: tuple[str, str]
) -> None:
    """`surge run PROFILE` with recipes, SIGTERM once green instances run: every
    instance it started is gone when it exits."""
    proxy_url, admin_url = proxy
    command = app_command(tmp_path)
    admin_port = admin_url.rsplit(":", 1)[1]
    proxy_port = proxy_url.rsplit(":", 1)[1]
    profile = tmp_path / "p.toml"
    profile.write_text(
        textwrap.dedent(
            f"""
            name = "recipes"
            base_url = "{proxy_url}"
            [load]
            executor = "constant-vus"
            vus = 2
            duration = "30s"
            [deploy]
            strategy = "rolling"
            interval = "1s"
            proxy_port = {proxy_port}
            admin_port = {admin_port}
            [deploy.blue]
            command = {command!r}
            instances = 3
            [deploy.green]
            command = {command!r}
            instances = 3
            """
        ).replace("'", '"')
    )
    env = {**os.environ, "NO_COLOR": "1", "XDG_STATE_HOME": str(tmp_path / "state")}
    proc = subprocess.Popen(
        surge_cmd("run", str(profile), "--quiet"),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not pids_of(tmp_path, "green") and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.05)
        assert pids_of(tmp_path, "green"), "no green instance started"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    everything = pids_of(tmp_path, "blue") + pids_of(tmp_path, "green")
    assert len(everything) >= 4
    assert not any(map(alive, everything)), out
    assert "instance started" in out and "stopped by a signal" in out, out
