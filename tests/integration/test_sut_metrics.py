"""The demo SUT's `/metrics` over real loopback sockets, read by prometheus-client's
own parser: requests, in-flight, open connections, its process's CPU and memory."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine.sut import SutConfig, SutServer

pytestmark = pytest.mark.timeout(15)


async def scrape(client: httpx.AsyncClient, url: str) -> dict[str, float]:
    r = await client.get(f"{url}/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = text_string_to_metric_families(r.text)
    return {s.name: s.value for f in families for s in f.samples if not s.labels}


async def test_metrics_count_requests_inflight_and_connections() -> None:
    async with SutServer(SutConfig(host="127.0.0.1", port=0)) as srv:
        limits = httpx.Limits(max_connections=20)
        async with httpx.AsyncClient(limits=limits) as slow, httpx.AsyncClient() as scraper:
            for _ in range(5):
                assert (await slow.get(f"{srv.url}/")).status_code == 200
            pending = [asyncio.create_task(slow.get(f"{srv.url}/delay/400")) for _ in range(8)]
            while srv._app is not None and srv._app.requests < 13:  # all 8 arrived
                await asyncio.sleep(0.01)
            during = await scrape(scraper, srv.url)
            await asyncio.gather(*pending)
            after = await scrape(scraper, srv.url)
    assert during["sut_inflight"] == 8
    assert during["sut_connections"] >= 9  # the 8 waiting and the scraper's
    assert during["sut_requests_total"] == 14  # 5 answered, 8 waiting, this scrape
    assert after["sut_inflight"] == 0
    assert after["sut_requests_total"] == 15  # and the two scrapes
    assert after["process_cpu_seconds_total"] > 0
    assert after["process_resident_memory_bytes"] > 10_000_000


async def test_metrics_take_no_faults_and_use_no_error_schedule() -> None:
    """A scrape every second must neither fail nor shift the deterministic error schedule."""
    cfg = SutConfig(host="127.0.0.1", port=0, error_rate=0.5, latency="300ms")
    async with SutServer(cfg) as srv, httpx.AsyncClient() as client:
        for _ in range(3):
            r = await client.get(f"{srv.url}/metrics", timeout=0.25)  # no injected latency
            assert r.status_code == 200
        statuses = [(await client.get(f"{srv.url}/")).status_code for _ in range(4)]
    assert statuses.count(500) == 2
