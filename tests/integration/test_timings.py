"""k6's timing breakdown, in both clients, against a loopback server with known delays:
it answers the head 30 ms after reading a request and the body 20 ms after the head, so
http_req_waiting reads ~30 ms, http_req_receiving ~20 ms, and the connect phases count
once per connection (zero on the requests that reuse it), as k6 reports them."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import pytest

from engine.http.tls import TlsOptions
from engine.load.controller import Controller
from engine.load.run import RunResult
from engine.load.thresholds import parse_cli_threshold
from engine.profile import adhoc_profile
from engine.profile.plan import Overrides, build_plan
from tests.integration.test_bytes import CLIENTS, Counting, tls_files

__all__ = ["tls_files"]

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n"


class Slow(Counting):
    """Keep-alive HTTP/1.1 on 127.0.0.1: the head 30 ms after a request, the body 20 ms later."""

    connections = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                await asyncio.sleep(0.03)
                writer.write(HEAD)
                await writer.drain()
                await asyncio.sleep(0.02)
                writer.write(b"hello")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()


async def _run(url: str, client: str, tls: TlsOptions | None = None) -> RunResult:
    thresholds = tuple(
        parse_cli_threshold(t)
        for t in (
            "http_req_waiting:p(50)>25",
            "http_req_receiving:p(50)<15",
            "http_req_sending:p(50)<2",
        )
    )
    overrides = Overrides(
        iterations=20,
        vus=2,
        client=client,
        workers=1,
        thresholds=thresholds,
        cacert=tls.cacert if tls else None,
    )
    plan = build_plan(adhoc_profile(url + "/"), overrides, interval=0.5)
    return await asyncio.wait_for(Controller(plan).run(), 20)


def _ms(result: RunResult, name: str, pct: float) -> float:
    return result.model.total.phases[name].get_value_at_percentile(pct) / 1000


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("secure", [False, True], ids=["http", "https"])
async def test_the_timing_breakdown_adds_up_to_http_req_duration(
    client: str, secure: bool, tls_files: dict[str, Any]
) -> None:
    server_ctx = tls_files["server_ctx"]() if secure else None
    async with Slow(ssl_context=server_ctx) as srv:
        tls = TlsOptions(cacert=tls_files["ca"]) if secure else None
        result = await _run(srv.url, client, tls)
    total = result.model.total
    assert result.model.figures().status == {200: 20}
    phases = total.phases
    assert {name: h.get_total_count() for name, h in phases.items()} == {
        name: 20 for name in phases
    }
    assert len(phases) == 6
    assert 29 <= _ms(result, "http_req_waiting", 50) <= 40
    assert 19 <= _ms(result, "http_req_receiving", 50) <= 30
    assert _ms(result, "http_req_sending", 50) < 2  # one write of a small request
    # Two VUs open two connections: two non-zero connect times, zero for the other 18.
    connecting = phases["http_req_connecting"]
    assert srv.connections == 2
    assert connecting.get_value_at_percentile(85) == 0 and connecting.get_max_value() > 0
    tls_max = phases["http_req_tls_handshaking"].get_max_value()
    assert (tls_max > 0) is secure
    # http_req_duration is sending + waiting + receiving, as in k6 (means within 1 ms).
    mean = {k: total.phase_sums[k] / 20 / 1000 for k in phases}
    duration = result.model.figures().duration.mean
    parts = mean["http_req_sending"] + mean["http_req_waiting"] + mean["http_req_receiving"]
    assert duration == pytest.approx(parts, abs=1.0)
    assert [s.ok for s in result.model.evaluate(final=True)] == [True, False, True]


async def test_iteration_duration_includes_the_connect_as_k6s_does(
    tls_files: dict[str, Any],
) -> None:
    """One-request iterations: the two that opened a (TLS) connection lasted that too."""
    async with Slow(ssl_context=tls_files["server_ctx"]()) as srv:
        result = await _run(srv.url, "wire", TlsOptions(cacert=tls_files["ca"]))
    total = result.model.total
    sums = total.phase_sums
    connect = sums["http_req_connecting"] + sums["http_req_tls_handshaking"]
    assert connect > 0 and total.iterations == 20
    durations = sum(b.duration_sum for b in total.buckets.values())
    assert total.iteration_sum - durations >= connect
