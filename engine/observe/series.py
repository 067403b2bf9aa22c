"""One observed series: what a scrape or a query gave, interval by interval."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Series:
    name: str  # as the user named it (`cpu`) or the metric's own name
    source: str  # the endpoint or the Prometheus server it came from
    unit: str = ""  # "%", "bytes", "/s" (a counter turned into a rate), "" for a plain value
    times: tuple[float, ...] = ()  # run seconds
    values: tuple[float, ...] = ()
    problem: str = ""  # the source's outage ("127.0.0.1:9100 down since 12s (...)")
