"""Service discovery against a real DNS server (dnsmasq) and a real router: a green
pool of 3 becomes 4, then 2, while load runs through HAProxy, and no request is lost.

Instances leave the registry first and are stopped only once Surge has drained and
removed them from the router, as a deregistration does in Consul or Kubernetes.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.deploy.discovery import DiscoverySync
from engine.deploy.routers.haproxy import HaproxyRouter, haproxy_binary
from engine.deploy.routers.launch import free_port, haproxy_setup, start_haproxy
from engine.deploy.strategies import EventKind, Weights
from engine.discovery import FileSource, SrvSource, Target
from engine.discovery.watcher import PoolWatcher
from engine.load.controller import Controller
from engine.profile import adhoc_profile
from engine.profile.plan import Overrides, build_plan
from tests.conftest import spawn_sut
from tests.integration.dns import DOMAIN, Dnsmasq
from tests.integration.routers import require


@pytest.fixture
def dnsmasq() -> Iterator[Dnsmasq]:
    server = Dnsmasq()
    yield server
    server.stop()


@pytest.fixture
def suts() -> Iterator[Callable[[int], list[tuple[int, object]]]]:
    procs: list = []

    def start(n: int) -> list[tuple[int, object]]:
        out = []
        for _ in range(n):
            proc, url = spawn_sut("--color", "green")
            procs.append(proc)
            out.append((int(url.rsplit(":", 1)[1]), proc))
        return out

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


async def until(check: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await _value(check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def _value(v: object) -> object:
    return await v if asyncio.iscoroutine(v) else v


@pytest.mark.serial
def test_srv_pool_of_3_becomes_4_then_2_under_load_without_losing_a_request(
    dnsmasq: Dnsmasq,
    suts: Callable[[int], list[tuple[int, object]]],
    sut: Callable[..., str],
    tmp_path: Path,
) -> None:
    require("haproxy", haproxy_binary())
    green = suts(4)
    ports = [p for p, _ in green]
    blue_url = sut("--color", "blue")
    dnsmasq.serve({"green": ports[:3]})
    port = free_port()
    setup = haproxy_setup(
        [blue_url],
        [dnsmasq.url("green")],
        listen_port=port,
        socket_path=str(tmp_path / "h.sock"),
        weights=Weights(0, 100),
    )
    names = sorted(i.name for i in setup.pools["green"])
    assert names == sorted(f"green-127.0.0.1:{p}" for p in ports[:3])
    haproxy, router = start_haproxy(setup, tmp_path / "haproxy.cfg")
    events: list[tuple[EventKind, str]] = []
    plan = build_plan(
        adhoc_profile(f"http://127.0.0.1:{port}/"),
        Overrides(executor="constant-arrival-rate", rate=100, duration=9.0),
    )

    async def scenario() -> tuple[Controller, dict[str, int]]:
        await router.set_weights(Weights(0, 100))
        sync = DiscoverySync(
            router,
            "green",
            SrvSource(dnsmasq.name("green"), "127.0.0.1", dnsmasq.port),
            lambda kind, message: events.append((kind, message)),
        )
        known = tuple(Target("127.0.0.1", p) for p in ports[:3])
        await sync.start(known)
        controller = Controller(plan)
        load = asyncio.create_task(controller.run())
        await asyncio.sleep(1.5)
        dnsmasq.serve({"green": ports})  # 3 -> 4
        fourth = f"green-127.0.0.1:{ports[3]}"

        async def fourth_serves() -> bool:
            return (await router.instance_stats()).get(fourth, None) is not None and (
                await router.instance_stats()
            )[fourth].requests > 20

        await until(fourth_serves, 15, f"the 4th instance to take traffic; events {events}")
        dnsmasq.serve({"green": ports[:2]})  # 4 -> 2
        gone = {f"green-127.0.0.1:{p}" for p in ports[2:]}

        async def removed() -> bool:
            return not gone & set(await router.instance_stats())

        await until(removed, 15, f"the 2 instances to be drained and removed; events {events}")
        for _, proc in green[2:]:  # only now do they stop
            proc.kill()  # type: ignore[attr-defined]
        await load
        per_instance = {k: v.requests for k, v in (await router.instance_stats()).items()}
        await sync.aclose()
        return controller, per_instance

    try:
        controller, per_instance = asyncio.run(scenario())
    finally:
        haproxy.stop()
    totals = controller.model.figures()
    print("discovery:", totals.requests, "requests,", totals.failed, "failed;", per_instance)
    print("events:", *events, sep="\n  ")
    # no request lost to a change
    assert totals.requests >= 850 and totals.failed == 0, (totals.errors, events)
    kinds = [k for k, _ in events]
    assert kinds.count(EventKind.INSTANCE_ADDED) == 1, events
    assert kinds.count(EventKind.INSTANCE_DRAINED) == 2
    assert kinds.count(EventKind.INSTANCE_REMOVED) == 2
    assert set(per_instance) >= {f"green-127.0.0.1:{p}" for p in ports[:2]}
    # the two that stayed took the rest, evenly (round robin): about half of 900 minus
    # what the others served before they went
    first, second = (per_instance[f"green-127.0.0.1:{p}"] for p in ports[:2])
    assert first > 250 and abs(first - second) <= 2, per_instance


def test_an_unreachable_registry_keeps_the_last_good_pool_and_says_so(dnsmasq: Dnsmasq) -> None:
    dnsmasq.serve({"green": [9001, 9002]})
    watcher = PoolWatcher(SrvSource(dnsmasq.name("green"), "127.0.0.1", dnsmasq.port))

    async def looks() -> tuple[object, object, object]:
        first, wait = await watcher.look()
        assert wait == 1.0  # dnsmasq's TTL of 1 s, within the bounds
        dnsmasq.stop()
        down, _ = await watcher.look()
        dnsmasq.serve({"green": [9001]})
        back, _ = await watcher.look()
        return first, down, back

    first, down, back = asyncio.run(looks())
    assert [t.port for t in first.targets] == [9001, 9002]  # type: ignore[attr-defined]
    assert down.error and "keeping the last good pool of 2" in down.error  # type: ignore[attr-defined]
    assert [t.port for t in down.targets] == [9001, 9002]  # type: ignore[attr-defined]
    assert back.error is None and [t.port for t in back.change.removed] == [9002]  # type: ignore[attr-defined]


def test_a_watcher_closed_in_the_middle_of_a_dns_lookup_ends(dnsmasq: Dnsmasq) -> None:
    """The proxy's `__aexit__` once waited forever here: a close landing as dnsmasq's
    answer came in was swallowed by dnspython's wait_for (Python 3.11), and the watcher
    went on looking. Closes are swept over the first 40 loop turns of a lookup, 200 times
    (about 1 in 15 hung before the fix)."""
    dnsmasq.serve({"green": [9001, 9002]})
    source = SrvSource(dnsmasq.name("green"), "127.0.0.1", dnsmasq.port)

    async def close_mid_lookup(turns: int) -> bool:
        watcher = PoolWatcher(source)
        watcher.start()
        while not watcher.looks:
            await asyncio.sleep(0)
        for _ in range(turns):
            await asyncio.sleep(0)
        closing = asyncio.create_task(watcher.aclose())
        done, _ = await asyncio.wait([closing], timeout=3)
        if not done:
            watcher._task.cancel()  # type: ignore[union-attr]
        return bool(done)

    async def first_hang() -> int | None:
        for i in range(200):
            if not await close_mid_lookup(i % 40):
                return i
        return None

    assert asyncio.run(first_hang()) is None


def test_a_file_sd_pool_is_watched_by_mtime(tmp_path: Path) -> None:
    path = tmp_path / "targets.json"
    path.write_text(json.dumps([{"targets": ["127.0.0.1:9001"], "labels": {"env": "x"}}]))
    watcher = PoolWatcher(FileSource(str(path)))

    async def looks() -> list[object]:
        out = [(await watcher.look())[0]]
        out.append((await watcher.look())[0])  # unchanged mtime: not even parsed
        path.write_text(json.dumps([{"targets": ["127.0.0.1:9001", "127.0.0.1:9002"]}]))
        os.utime(path, (time.time() + 5, time.time() + 5))
        out.append((await watcher.look())[0])
        path.write_text("not json")
        os.utime(path, (time.time() + 10, time.time() + 10))
        out.append((await watcher.look())[0])
        return out

    first, same, grown, broken = asyncio.run(looks())
    assert [t.port for t in first.change.added] == [9001]  # type: ignore[attr-defined]
    assert not same.change  # type: ignore[attr-defined]
    assert [t.port for t in grown.change.added] == [9002]  # type: ignore[attr-defined]
    assert broken.error and len(broken.targets) == 2  # type: ignore[attr-defined]


def test_srv_names_resolve_through_dnsmasq_to_addresses(dnsmasq: Dnsmasq) -> None:
    dnsmasq.serve({"blue": [8081], "green": [8082, 8083]})
    from engine.deploy.routers.launch import resolve_pool

    urls, discovered = resolve_pool([dnsmasq.url("green")])
    assert discovered and urls == ["http://127.0.0.1:8082", "http://127.0.0.1:8083"]
    assert DOMAIN in dnsmasq.name("blue")
    assert HaproxyRouter  # the router the first test drives


@pytest.mark.serial
def test_surge_proxy_follows_an_srv_pool_of_3_to_4_to_2_under_load(
    dnsmasq: Dnsmasq, suts: Callable[[int], list[tuple[int, object]]], sut: Callable[..., str]
) -> None:
    from engine.proxy import Proxy, ProxyConfig

    green = suts(4)
    ports = [p for p, _ in green]
    blue_url = sut("--color", "blue")
    dnsmasq.serve({"green": ports[:3]})
    config = ProxyConfig(blue=(blue_url,), green=(dnsmasq.url("green"),), weights=(0, 100))

    def serving(proxy: Proxy) -> dict[int, dict]:
        return {
            int(i["url"].rsplit(":", 1)[1]): i for i in proxy.instances() if i["color"] == "green"
        }

    async def scenario() -> tuple[Controller, dict[int, dict]]:
        async with Proxy(config) as proxy:
            assert sorted(serving(proxy)) == sorted(ports[:3])  # found before it listens
            plan = build_plan(
                adhoc_profile(f"{proxy.url}/"),
                Overrides(executor="constant-arrival-rate", rate=100, duration=7.0),
            )
            controller = Controller(plan)
            load = asyncio.create_task(controller.run())
            await asyncio.sleep(1.5)
            dnsmasq.serve({"green": ports})  # 3 -> 4
            await until(lambda: serving(proxy).get(ports[3], {}).get("requests", 0) > 20, 8, "4th")
            dnsmasq.serve({"green": ports[:2]})  # 4 -> 2

            def drained() -> bool:
                s = serving(proxy)
                return all(
                    not s[p]["in_service"] and s[p]["connections"] == s[p]["idle"]
                    for p in ports[2:]
                )

            await until(drained, 8, "the 2 instances to drain")
            for _, proc in green[2:]:
                proc.kill()  # type: ignore[attr-defined]
            await load
            return controller, serving(proxy)

    controller, final = asyncio.run(scenario())
    totals = controller.model.figures()
    print("surge proxy discovery:", totals.requests, "requests,", totals.failed, "failed")
    assert totals.requests >= 650 and totals.failed == 0
    assert [final[p]["in_service"] for p in ports] == [True, True, False, False]
    assert all(final[p]["requests"] > 0 for p in ports)


def test_surge_run_keeps_haproxy_in_step_with_the_registry_and_records_it(
    dnsmasq: Dnsmasq,
    suts: Callable[[int], list[tuple[int, object]]],
    sut: Callable[..., str],
    tmp_path: Path,
) -> None:
    import subprocess

    from engine.report.document import read_report
    from tests.conftest import ROOT, surge_cmd

    require("haproxy", haproxy_binary())
    green = suts(3)
    ports = [p for p, _ in green]
    blue_url = sut("--color", "blue")
    dnsmasq.serve({"green": ports[:2]})
    port = free_port()
    sock = tmp_path / "h.sock"
    setup = haproxy_setup(
        [blue_url], [dnsmasq.url("green")], listen_port=port, socket_path=str(sock)
    )
    haproxy, router = start_haproxy(setup, tmp_path / "haproxy.cfg")
    profile = tmp_path / "p.toml"
    profile.write_text(
        f"""
name = "discovered"
base_url = "http://127.0.0.1:{port}"
[[endpoints]]
path = "/"
[deploy]
router = "haproxy"
socket = "{sock}"
blue = ["{blue_url}"]
green = "{dnsmasq.url("green")}"
proxy_port = {port}
strategy = "canary"
steps = [50, 100]
interval = "60s"
""",
        encoding="utf-8",
    )
    report = tmp_path / "r.toml"
    proc = subprocess.Popen(
        surge_cmd(
            "run", str(profile), "--rate", "100", "--duration", "5s", "--report", str(report)
        ),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        asyncio.run(until(lambda: _green_weight(router), 15, "the rollout's first step"))
        dnsmasq.serve({"green": ports})  # a third green instance registers
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        haproxy.stop()
    assert proc.returncode == 4, out + err  # the 5 s load ended before the 60 s verdict
    third = f"green-127.0.0.1:{ports[2]}"
    assert f"instance added: {third}" in out
    deploy = read_report(report).table()["deploy"]
    assert deploy["outcome"] == "unfinished" and deploy["final_weights"] == [100, 0]
    added = [e["message"] for e in deploy["events"] if e["kind"] == "instance added"]
    assert len(added) == 1 and third in added[0], deploy["events"]  # the 2 it started with:
    found = [e["message"] for e in deploy["events"] if e["kind"] == "pool found"]
    assert len(found) == 1 and all(f"127.0.0.1:{p}" in found[0] for p in ports[:2])
    counts = deploy["instances"][third]
    assert counts["requests"] > 0 and counts["status_5xx"] == counts["connection_errors"] == 0


async def _green_weight(router: HaproxyRouter) -> bool:
    state = await router.api.command("show servers state surge")
    weights = [int(line.split()[7]) for line in state.splitlines()[1:] if "green-" in line]
    return bool(weights) and all(w > 0 for w in weights)


def test_surge_proxy_cli_follows_the_registry_and_surge_run_records_it(
    dnsmasq: Dnsmasq,
    suts: Callable[[int], list[tuple[int, object]]],
    sut: Callable[..., str],
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    from engine.report.document import read_report
    from tests.conftest import ROOT, surge_cmd

    green = suts(2)
    ports = [p for p, _ in green]
    blue_url = sut("--color", "blue")
    dnsmasq.serve({"green": ports[:1]})
    proxy = subprocess.Popen(
        [sys.executable, "-m", "tui.cli.proxy_cmd", "--listen", "127.0.0.1:0", "--admin",
         "127.0.0.1:0", "--blue", blue_url, "--green", dnsmasq.url("green"), "--weights", "50:50"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proxy.stdout is not None
        line = proxy.stdout.readline()
        while "listening on" not in line:
            assert line, "surge proxy did not start"
            line = proxy.stdout.readline()
        words = line.replace("(", " ").replace(")", " ").split()
        url, admin = words[words.index("on") + 1], words[words.index("admin") + 1]
        profile = tmp_path / "p.toml"
        profile.write_text(
            f"""
name = "proxy-discovered"
base_url = "{url}"
[[endpoints]]
path = "/"
[deploy]
blue = ["{blue_url}"]
green = "{dnsmasq.url("green")}"
proxy_port = {url.rsplit(":", 1)[1]}
admin_port = {admin.rsplit(":", 1)[1]}
strategy = "canary"
steps = [50, 100]
interval = "60s"
""",
            encoding="utf-8",
        )
        report = tmp_path / "r.toml"
        args = ("run", str(profile), "--rate", "50", "--duration", "4s", "--report", str(report))
        run = subprocess.Popen(
            surge_cmd(*args), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert run.stdout is not None
        seen = []
        for line in run.stdout:  # each event is printed as it happens
            seen.append(line)
            if "pool found" in line:  # the driver has looked the registry up once
                break
        dnsmasq.serve({"green": ports})
        out, err = run.communicate(timeout=60)
        out = "".join(seen) + out
        assert run.returncode == 4, out + err  # the load ended before the 60 s verdict
    finally:
        proxy.terminate()
        proxy_out = proxy.communicate(timeout=10)[0]
    second = f"127.0.0.1:{ports[1]}"
    assert f"green: + {second}" in proxy_out  # the proxy's own log line
    deploy = read_report(report).table()["deploy"]
    added = [e["message"] for e in deploy["events"] if e["kind"] == "instance added"]
    assert len(added) == 1 and second in added[0], deploy["events"]
    assert deploy["instances"]["green-1"]["requests"] > 0  # the proxy's index for it
