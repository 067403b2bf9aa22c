"""The demo SUT's `/metrics`: Prometheus text through prometheus-client.

Read at scrape time, never counted on the hot path beyond one integer: the requests
received (an attribute increment), the requests in flight and the open connections
(counted from the connections' own queues when scraped), and the process's CPU,
memory and garbage collections (prometheus-client's own collectors). One registry a
server, so several servers in one process (the tests) each say their own figures;
built at the first scrape, so a server nobody scrapes never imports prometheus-client
(~35 ms of every `surge sut` start).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from prometheus_client.core import Metric

__all__ = ["CONTENT_TYPE", "Connection", "metrics_text"]

# The classic text format (what generate_latest writes), which every Prometheus reads.
CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"


class Connection(Protocol):
    """What the collector reads of one open connection."""

    @property
    def inflight(self) -> int: ...


class _SutCollector:
    """sut_requests_total, sut_inflight and sut_connections, read when scraped (a
    prometheus-client collector: anything with `collect`)."""

    def __init__(
        self,
        requests: Callable[[], int],
        conns: Collection[Connection],
        injected: Callable[[], int] = lambda: 0,
    ) -> None:
        self._requests = requests
        self._conns = conns
        self._injected = injected

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        yield CounterMetricFamily(
            "sut_requests", "Requests received (each answered or in flight).", self._requests()
        )
        yield CounterMetricFamily(
            "sut_injected_errors",
            "Faults answered (--error-rate): what a rollout's error-rate query counts.",
            self._injected(),
        )
        conns = list(self._conns)  # a copy: connections come and go while we count
        yield GaugeMetricFamily(
            "sut_inflight", "Requests received, not yet answered.", sum(c.inflight for c in conns)
        )
        yield GaugeMetricFamily("sut_connections", "Open client connections.", len(conns))


def metrics_text(
    requests: Callable[[], int],
    conns: Collection[Connection],
    injected: Callable[[], int] = lambda: 0,
) -> Callable[[], bytes]:
    """The body of `GET /metrics` for one server, rendered anew at each call."""
    render: Callable[[], bytes] | None = None

    def text() -> bytes:
        nonlocal render
        if render is None:
            render = _registry(_SutCollector(requests, conns, injected))
        return render()

    return text


def _registry(sut: _SutCollector) -> Callable[[], bytes]:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.gc_collector import GCCollector
    from prometheus_client.platform_collector import PlatformCollector
    from prometheus_client.process_collector import ProcessCollector

    registry = CollectorRegistry(auto_describe=False)
    registry.register(sut)  # type: ignore[arg-type]  # a collector is anything with collect()
    ProcessCollector(registry=registry)
    GCCollector(registry=registry)
    PlatformCollector(registry=registry)
    return lambda: generate_latest(registry)
