"""What one scrape says, as numbers: pure functions over prometheus-client's parsed
families (never parsed by hand), and counters turned into rates between two scrapes.

The curated set (`[observe]` without `metrics`): for an application's own endpoint its
process's CPU (a counter: % of one core), resident memory, requests in flight, open
connections, requests received (per second) and GC time where it is exposed (Go's
`go_gc_duration_seconds`); for node_exporter (a target exposing `node_cpu_seconds_total`)
the host's CPU (all cores, idle excluded), memory in use and TCP sockets. node_exporter's
own process figures are left out: on a host view they are noise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from engine.observe.config import selector

__all__ = ["Reading", "Scrape", "curated", "named", "parse_text", "rate_of"]

Samples = Mapping[str, Sequence[Sample]]  # sample name -> its samples (every label set)


@dataclass(frozen=True)
class Reading:
    """One figure of one scrape; a counter's series is its rate, times `scale`."""

    name: str
    value: float
    unit: str = ""
    counter: bool = False
    scale: float = 1.0


@dataclass(frozen=True)
class Scrape:
    """A parsed endpoint: its samples by name, and which sample names are running totals."""

    samples: Samples
    counters: frozenset[str]


def parse_text(text: str) -> Scrape:
    """Prometheus text (format 0.0.4, what a scrape gets by default) through its parser."""
    samples: dict[str, list[Sample]] = {}
    counters: set[str] = set()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, []).append(s)
            if (family.type == "counter" and not s.name.endswith("_created")) or (
                family.type in ("summary", "histogram") and s.name.endswith(("_sum", "_count"))
            ):
                counters.add(s.name)
    return Scrape(samples, frozenset(counters))


def _total(
    samples: Samples, name: str, keep: Callable[[Mapping[str, str]], bool] | None = None
) -> float | None:
    """The sum of a sample's label sets (those `keep` keeps); None when there are none."""
    found = [s.value for s in samples.get(name, ()) if keep is None or keep(s.labels)]
    return float(sum(found)) if found else None


def _busy(labels: Mapping[str, str]) -> bool:
    return labels.get("mode") not in ("idle", "iowait")


def _host_memory(samples: Samples) -> float | None:
    total = _total(samples, "node_memory_MemTotal_bytes")
    free = _total(samples, "node_memory_MemAvailable_bytes")
    return None if total is None or free is None else total - free


# (series name, unit, counter, scale, how to read it)
Curated = tuple[str, str, bool, float, Callable[[Samples], float | None]]
_PROCESS: tuple[Curated, ...] = (
    ("cpu", "%", True, 100.0, lambda s: _total(s, "process_cpu_seconds_total")),
    ("memory", "bytes", False, 1.0, lambda s: _total(s, "process_resident_memory_bytes")),
    ("inflight", "", False, 1.0, lambda s: _total(s, "sut_inflight")),
    ("connections", "", False, 1.0, lambda s: _total(s, "sut_connections")),
    ("requests", "/s", True, 1.0, lambda s: _total(s, "sut_requests_total")),
    ("gc", "s/s", True, 1.0, lambda s: _total(s, "go_gc_duration_seconds_sum")),
)
_HOST: tuple[Curated, ...] = (
    ("host_cpu", "%", True, 100.0, lambda s: _total(s, "node_cpu_seconds_total", _busy)),
    ("host_memory", "bytes", False, 1.0, _host_memory),
    ("host_tcp", "", False, 1.0, lambda s: _total(s, "node_sockstat_TCP_inuse")),
)


def curated(scrape: Scrape) -> list[Reading]:
    """The curated set this endpoint exposes (a host's for node_exporter)."""
    table = _HOST if "node_cpu_seconds_total" in scrape.samples else _PROCESS
    out = []
    for name, unit, counter, scale, read in table:
        value = read(scrape.samples)
        if value is not None:
            out.append(Reading(name, value, unit, counter, scale))
    return out


def named(scrape: Scrape, names: Iterable[str]) -> list[Reading]:
    """Metrics by name or selector (a counter's family name or its `_total` sample), summed
    over the label sets they match; a counter becomes a rate (/s)."""
    out = []
    for text in names:
        sel = selector(text)
        sample = next((n for n in (sel.name, f"{sel.name}_total") if n in scrape.samples), None)
        value = None if sample is None else _total(scrape.samples, sample, sel.matches)
        if sample is None or value is None:
            continue
        counter = sample in scrape.counters
        out.append(Reading(text, value, "/s" if counter else "", counter))
    return out


def rate_of(before: tuple[float, float] | None, now: tuple[float, float]) -> float | None:
    """A counter's rate between two (monotonic seconds, value) readings; None for the
    first reading, a reset (the target restarted) or no time between them."""
    if before is None:
        return None
    (t0, v0), (t1, v1) = before, now
    if v1 < v0 or t1 <= t0:
        return None
    return (v1 - v0) / (t1 - t0)
