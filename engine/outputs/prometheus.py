"""`--out prometheus=HOST:PORT`: the run's figures as a live Prometheus scrape endpoint.

prometheus-client serves them from its own thread; the event loop builds a fresh,
immutable set of metric families once per interval and swaps one reference, so a
scrape never reads figures while the loop changes them. Histograms come from the
run's HDR histograms, cumulative counts at fixed bounds (`BUCKETS_S`, in seconds,
documented in the README). After the run the last figures stay up for `linger`
seconds (default 5 s) so the last scrape sees the whole run.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable, Sequence
from typing import Any

from hdrh.histogram import HdrHistogram
from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import start_http_server

from engine.durations import parse_duration
from engine.errors import ConfigError
from engine.load.metrics import merge_histograms
from engine.load.model import RunModel
from engine.load.run import Snapshot
from engine.outputs.base import Output
from engine.report.model import Report

# Upper bounds of the latency histograms, in seconds (then +Inf).
BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
DEFAULT_PORT = 9464
DEFAULT_LINGER_S = 5.0


class _Families:
    """What a scrape returns: prometheus-client's Collector interface."""

    def __init__(self) -> None:
        self.metrics: tuple[Metric, ...] = ()

    def collect(self) -> Iterable[Metric]:
        return self.metrics  # one reference read: the loop replaces the whole tuple


class PrometheusOutput(Output):
    def __init__(self, host: str, port: int, linger: float = DEFAULT_LINGER_S) -> None:
        self.host, self.port, self.linger_s = host, port, linger
        self._families = _Families()
        self._server: Any = None

    @classmethod
    def parse(cls, where: str) -> PrometheusOutput:
        """`HOST:PORT[,linger=DURATION]` (PORT 0: any free port, see `.port`)."""
        address, *options = where.split(",")
        host, sep, port_text = address.rpartition(":")
        if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
            raise ConfigError(
                "--out", f"prometheus={where}: expected HOST:PORT, e.g. 127.0.0.1:9464"
            )
        linger = DEFAULT_LINGER_S
        for option in options:
            name, _, value = option.partition("=")
            if name != "linger":
                raise ConfigError("--out", f"prometheus: unknown option {name!r} (known: linger)")
            try:
                linger = parse_duration(value)
            except ValueError as exc:
                raise ConfigError("--out", f"prometheus: linger: {exc}") from None
        return cls(host.strip("[]"), int(port_text), linger)

    def start(self) -> None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self._families)  # type: ignore[arg-type]
        try:
            self._server, _ = start_http_server(self.port, self.host, registry)
        except OSError as exc:
            why = exc.strerror or str(exc)
            raise ConfigError("--out", f"prometheus={self.host}:{self.port}: {why}") from None
        self.port = self._server.server_port

    def interval(self, snapshot: Snapshot, model: RunModel) -> None:
        self._families.metrics = tuple(self._build(snapshot, model))

    def _build(self, snapshot: Snapshot, model: RunModel) -> Iterable[Metric]:
        totals = snapshot.totals
        buckets = model.total.buckets
        yield _counter("surge_http_reqs", "requests sent (k6: http_reqs)", totals.requests)
        yield _counter(
            "surge_http_req_failed", "requests that failed (k6: http_req_failed)", totals.failed
        )
        total = model.total
        yield _counter("surge_iterations", "iterations done (k6: iterations)", total.iterations)
        yield _counter(
            "surge_dropped_iterations", "iterations dropped (k6: dropped_iterations)", total.dropped
        )
        yield _counter("surge_data_received_bytes", "bytes received", totals.bytes_in)
        yield _counter("surge_data_sent_bytes", "bytes sent", totals.bytes_out)
        yield _gauge("surge_vus", "virtual users busy now (k6: vus)", snapshot.row.vus)
        yield _gauge("surge_vus_max", "virtual users allocated (k6: vus_max)", snapshot.row.vus_max)
        durations = [b.duration for b in buckets.values()]
        yield _histogram(
            "surge_http_req_duration_seconds",
            "k6's http_req_duration: from the first byte sent to the last byte received",
            merge_histograms(durations),
            sum(b.duration_sum for b in buckets.values()),
        )
        yield _histogram(
            "surge_latency_seconds",
            "Surge's latency: from the moment the iteration was due",
            merge_histograms(b.latency for b in buckets.values()),
            sum(b.latency_sum for b in buckets.values()),
        )
        checks = CounterMetricFamily("surge_checks", "check results", labels=("check", "result"))
        for name, (passes, fails) in snapshot.checks.items():
            checks.add_metric((name, "pass"), passes)
            checks.add_metric((name, "fail"), fails)
        yield checks
        ok = GaugeMetricFamily(
            "surge_threshold_ok", "1 while a threshold holds", labels=("metric", "expression")
        )
        for state in snapshot.thresholds:
            ok.add_metric(
                (state.threshold.key, state.threshold.expression), 1.0 if state.ok else 0.0
            )
        yield ok

    def finish(self, report: Report) -> None:
        """The last interval already holds the run's totals; nothing to add."""

    async def linger(self) -> None:
        if self._server is not None and self.linger_s > 0:
            await asyncio.sleep(self.linger_s)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _histogram(name: str, doc: str, h: HdrHistogram, total_us: int) -> HistogramMetricFamily:
    counts = cumulative_counts(h, BUCKETS_S)
    buckets = [(f"{b:g}", c) for b, c in zip(BUCKETS_S, counts, strict=True)]
    buckets.append(("+Inf", h.get_total_count()))
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=total_us / 1e6)


def cumulative_counts(h: HdrHistogram, bounds_s: Sequence[float]) -> list[int]:
    """How many recorded values (us) are at most each bound (s): one walk of the counts."""
    out = [0] * len(bounds_s)
    if not h.get_total_count():
        return out
    limits = [math.floor(b * 1e6) for b in bounds_s]
    for item in h.get_recorded_iterator():
        value = h.get_highest_equivalent_value(item.value_iterated_to)
        for i, limit in enumerate(limits):
            if value <= limit:
                out[i] += item.count_at_value_iterated_to
    return out
