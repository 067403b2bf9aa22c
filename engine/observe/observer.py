"""The observer: scrapes and queries in a thread of its own, off the loop that paces the
load (node_exporter answers 60-100 KB, ~10-15 ms to parse), once an interval.

The run session asks for a sample at each snapshot (`sample(t)`, never blocking: a
request while a scrape is still going replaces the one waiting) and reads the series
so far (`series()`: one reference to a mapping the thread swaps in whole, never changes).
A target that fails (refused, timed out, garbage) keeps the run going: its series say
so in `problem` and it is tried again at the next interval.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit

import httpx

from engine.observe.config import ObserveSpec, PromQuery
from engine.observe.promql import instant_request, instant_values
from engine.observe.readings import Reading, curated, named, parse_text, rate_of
from engine.observe.series import Series

__all__ = ["SCRAPE_TIMEOUT", "Observer"]

T = TypeVar("T")
SCRAPE_TIMEOUT = 2.0  # seconds a scrape or a query may take before it counts as down


@dataclass
class _Line:
    """One series as it grows (the thread's own; published as a frozen Series)."""

    source: str
    unit: str
    times: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


@dataclass
class _Health:
    down_since: float | None = None
    last: str = ""  # the latest outage, said while it lasts and after


def _label(url: str) -> str:
    return urlsplit(url).netloc


class Observer:
    """Every target of an `ObserveSpec`, sampled at the run seconds the session asks."""

    def __init__(self, spec: ObserveSpec, timeout: float = SCRAPE_TIMEOUT) -> None:
        self.spec = spec
        self.timeout = timeout
        self._lines: dict[str, _Line] = {}
        self._owner: dict[tuple[str, str], str] = {}  # (source, name) -> series key
        self._last: dict[str, tuple[float, float]] = {}  # series key -> a counter's reading
        self._health: dict[str, _Health] = {}  # source URL -> its outages
        self._published: Mapping[str, Series] = {}  # replaced whole, never changed
        self._cv = threading.Condition()
        self._due: float | None = None
        self._asked = 0.0  # the latest run second asked for
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="surge-observe", daemon=True)

    # -- the session's side (the loop) -------------------------------------------------

    def start(self) -> None:
        """The thread, with a first scrape at 0 s: the counters' baseline."""
        self._due = 0.0
        self._thread.start()

    def sample(self, t: float) -> None:
        """A scrape for run second `t`, soon; never waits."""
        with self._cv:
            if t <= self._asked:  # the last interval said again (its final form): once is enough
                return
            self._due = self._asked = t
            self._cv.notify()

    def series(self) -> Mapping[str, Series]:
        return self._published

    def close(self, wait: float | None = None) -> None:
        """The scrape asked for last is finished (at most `wait` s), then the thread ends."""
        with self._cv:
            self._stopping = True
            self._cv.notify()
        if self._thread.is_alive():
            self._thread.join(self.timeout * 2 if wait is None else wait)

    # -- the thread --------------------------------------------------------------------

    def _run(self) -> None:
        sources = max(1, len(self.spec.targets) + (self.spec.query is not None))
        with (
            httpx.Client(timeout=self.timeout, trust_env=False) as client,
            ThreadPoolExecutor(sources, thread_name_prefix="surge-observe") as pool,
        ):
            while True:
                with self._cv:
                    while self._due is None and not self._stopping:
                        self._cv.wait()
                    if self._due is None:
                        return
                    t, self._due = self._due, None
                self._once(client, pool, t)

    def _once(self, client: httpx.Client, pool: ThreadPoolExecutor, t: float) -> None:
        """Every source at once (a hung one holds up no other), then the series swapped in."""
        asks: dict[str, Future[tuple[float, list[Reading]]]] = {
            url: pool.submit(_timed, self._scrape, client, url) for url in self.spec.targets
        }
        if (query := self.spec.query) is not None:
            asks[query.url] = pool.submit(_timed, _query, client, query)
        for source, ask in asks.items():
            self._read(source, t, ask)
        self._publish()

    def _scrape(self, client: httpx.Client, url: str) -> list[Reading]:
        response = client.get(url)
        response.raise_for_status()
        try:
            scrape = parse_text(response.text)
        except ValueError as exc:  # an HTML page, a typo'd path answered 200
            raise ValueError(f"not Prometheus text: {str(exc)[:60]}") from None
        return named(scrape, self.spec.metrics) if self.spec.metrics else curated(scrape)

    def _read(self, source: str, t: float, ask: Future[tuple[float, list[Reading]]]) -> None:
        health = self._health.setdefault(source, _Health())
        try:
            now, readings = ask.result()
        except Exception as exc:  # any failure of a target: said, and the run goes on
            reason = _reason(exc)
            if health.down_since is None:
                health.down_since = t
            health.last = f"{_label(source)} down since {health.down_since:.0f}s ({reason})"
            return
        if health.down_since is not None:
            since, reason = health.down_since, health.last.rpartition(" (")[2].rstrip(")")
            health.last = f"{_label(source)} down {since:.0f}-{t:.0f}s ({reason})"
            health.down_since = None
        for r in readings:
            key = self._key(source, r.name)
            line = self._lines.setdefault(key, _Line(source, r.unit))
            value: float | None = r.value
            if r.counter:
                before, self._last[key] = self._last.get(key), (now, r.value)
                rate = rate_of(before, (now, r.value))
                value = None if rate is None else rate * r.scale
            if value is not None:
                line.times.append(round(t, 3))
                line.values.append(value)

    def _key(self, source: str, name: str) -> str:
        """The series' name: the metric's, or `name@host:port` when another source has it."""
        key = self._owner.get((source, name))
        if key is None:
            taken = name in self._owner.values()
            key = self._owner[(source, name)] = f"{name}@{_label(source)}" if taken else name
        return key

    def _publish(self) -> None:
        out: dict[str, Series] = {}
        for key, line in self._lines.items():
            problem = self._health[line.source].last
            out[key] = Series(
                key, line.source, line.unit, tuple(line.times), tuple(line.values), problem
            )
        for source, health in self._health.items():
            if health.last and not any(line.source == source for line in self._lines.values()):
                out[_label(source)] = Series(_label(source), source, problem=health.last)
        self._published = out  # a plain dict (it pickles), never changed once swapped in


def _timed(
    fetch: Callable[[httpx.Client, T], list[Reading]], client: httpx.Client, arg: T
) -> tuple[float, list[Reading]]:
    """A source's readings and the monotonic time they were read (a counter's rate)."""
    readings = fetch(client, arg)
    return time.monotonic(), readings


def _query(client: httpx.Client, query: PromQuery) -> list[Reading]:
    """Each expression as an instant query; a vector's series summed (`sum by` to choose)."""
    out = []
    for name, expr in query.exprs:
        url, params = instant_request(query.url, expr)
        try:
            values = instant_values(client.get(url, params=params))
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
        if values:
            out.append(Reading(name, sum(values)))
    return out


def _reason(exc: Exception) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    text = str(exc).strip() or type(exc).__name__
    return text.rpartition("] ")[2] if text.startswith("[Errno") else text
