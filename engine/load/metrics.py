"""Per-interval metrics: HDR histograms and counters, per (step, upstream).

The recorder sits on the hot path, so `record` does a dict lookup, a few integer
adds and one or two `record_value` calls; everything derived (totals, per-step,
per-upstream, percentiles) is computed once per interval from mergeable parts.
An `Interval` can be encoded to plain data and back, so a worker in another
process (or on another machine) ships the same thing a local one hands over.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

# Microseconds, from 1 us to 1 hour, 3 significant digits (0.1% precision).
HIST_MIN_US = 1
HIST_MAX_US = 3_600_000_000
HIST_DIGITS = 3

Key = tuple[str, str | None]  # (step, upstream)


def new_histogram() -> HdrHistogram:
    return HdrHistogram(HIST_MIN_US, HIST_MAX_US, HIST_DIGITS)


def merge_histograms(hists: Iterable[HdrHistogram | None]) -> HdrHistogram:
    out = new_histogram()
    for h in hists:
        if h is not None and h.get_total_count():
            out.add(h)
    return out


def encode_histogram(h: HdrHistogram) -> str:
    return h.encode().decode("ascii")


def decode_histogram(text: str) -> HdrHistogram:
    h = new_histogram()
    if text:
        h.add(HdrHistogram.decode(text.encode("ascii")))
    return h


class Bucket:
    """Figures of one (step, upstream) over one interval."""

    __slots__ = (
        "bytes_in",
        "bytes_out",
        "errors",
        "failed",
        "latency",
        "latency_sum",
        "requests",
        "service",
        "service_sum_",
        "status",
    )

    def __init__(self, separate_service: bool = True) -> None:
        self.latency = new_histogram()
        # Closed-model runs have latency == service time: one histogram serves both.
        self.service: HdrHistogram | None = new_histogram() if separate_service else None
        # Sums give exact means; HdrHistogram's own mean walks every bucket (~60 ms).
        self.latency_sum = 0
        self.service_sum_ = 0
        self.requests = 0
        self.failed = 0
        self.status: dict[int, int] = {}
        self.errors: dict[str, int] = {}
        self.bytes_in = 0
        self.bytes_out = 0

    @property
    def service_hist(self) -> HdrHistogram:
        return self.service if self.service is not None else self.latency

    @property
    def service_sum(self) -> int:
        return self.service_sum_ if self.service is not None else self.latency_sum

    def add(self, other: Bucket) -> None:
        """Merge another bucket in (exact: histograms and counters add)."""
        if other.latency.get_total_count():
            self.latency.add(other.latency)
        if self.service is not None:
            svc = other.service_hist
            if svc.get_total_count():
                self.service.add(svc)
            self.service_sum_ += other.service_sum
        self.latency_sum += other.latency_sum
        self.requests += other.requests
        self.failed += other.failed
        for k, v in other.status.items():
            self.status[k] = self.status.get(k, 0) + v
        for k, v in other.errors.items():
            self.errors[k] = self.errors.get(k, 0) + v
        self.bytes_in += other.bytes_in
        self.bytes_out += other.bytes_out

    def encode(self) -> dict[str, Any]:
        return {
            "latency": encode_histogram(self.latency),
            "service": encode_histogram(self.service_hist),
            "latency_sum": self.latency_sum,
            "service_sum": self.service_sum,
            "requests": self.requests,
            "failed": self.failed,
            "status": {str(k): v for k, v in self.status.items()},
            "errors": dict(self.errors),
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
        }

    @classmethod
    def decode(cls, data: dict[str, Any]) -> Bucket:
        b = cls(separate_service=True)
        b.latency = decode_histogram(data["latency"])
        b.service = decode_histogram(data["service"])
        b.latency_sum = data["latency_sum"]
        b.service_sum_ = data["service_sum"]
        b.requests = data["requests"]
        b.failed = data["failed"]
        b.status = {int(k): v for k, v in data["status"].items()}
        b.errors = dict(data["errors"])
        b.bytes_in = data["bytes_in"]
        b.bytes_out = data["bytes_out"]
        return b


@dataclass
class Interval:
    """Everything one worker measured over one interval; adds exactly across workers."""

    start: float  # seconds since the run started (wall time, pauses included)
    end: float
    buckets: dict[Key, Bucket] = field(default_factory=dict)
    iteration_duration: HdrHistogram = field(default_factory=new_histogram)
    iteration_sum: int = 0  # microseconds, for the exact mean
    iterations: int = 0
    interrupted: int = 0
    dropped: int = 0
    checks: dict[str, list[int]] = field(default_factory=dict)  # name -> [passes, fails]
    vus: int = 0
    vus_max: int = 0
    target: float = 0.0  # the executor's target (VUs or iterations/s) at the interval's end

    def add(self, other: Interval) -> None:
        for key, b in other.buckets.items():
            mine = self.buckets.get(key)
            if mine is None:
                mine = self.buckets[key] = Bucket()
            mine.add(b)
        if other.iteration_duration.get_total_count():
            self.iteration_duration.add(other.iteration_duration)
        self.iteration_sum += other.iteration_sum
        self.iterations += other.iterations
        self.interrupted += other.interrupted
        self.dropped += other.dropped
        for name, (p, f) in other.checks.items():
            pf = self.checks.setdefault(name, [0, 0])
            pf[0] += p
            pf[1] += f
        self.vus += other.vus
        self.vus_max += other.vus_max
        self.target += other.target
        self.start = min(self.start, other.start)
        self.end = max(self.end, other.end)

    def encode(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "buckets": [[k[0], k[1] or "", b.encode()] for k, b in self.buckets.items()],
            "iteration_duration": encode_histogram(self.iteration_duration),
            "iteration_sum": self.iteration_sum,
            "iterations": self.iterations,
            "interrupted": self.interrupted,
            "dropped": self.dropped,
            "checks": {k: list(v) for k, v in self.checks.items()},
            "vus": self.vus,
            "vus_max": self.vus_max,
            "target": self.target,
        }

    @classmethod
    def decode(cls, data: dict[str, Any]) -> Interval:
        return cls(
            start=data["start"],
            end=data["end"],
            buckets={(s, u or None): Bucket.decode(b) for s, u, b in data["buckets"]},
            iteration_duration=decode_histogram(data["iteration_duration"]),
            iteration_sum=data["iteration_sum"],
            iterations=data["iterations"],
            interrupted=data["interrupted"],
            dropped=data["dropped"],
            checks={k: list(v) for k, v in data["checks"].items()},
            vus=data["vus"],
            vus_max=data["vus_max"],
            target=data["target"],
        )


class _Sink:
    """A bucket being filled: raw latencies wait in arrays, folded into HDR in bulk.

    `HdrHistogram.record_value` is pure Python (~2.3 us a call, the largest single
    cost per request); `array.append` is ~0.1 us, and folding counts each distinct
    value once (`Counter` runs in C), so a request pays ~0.5 us for its latency.
    """

    __slots__ = ("bucket", "lat", "svc")

    def __init__(self, bucket: Bucket) -> None:
        self.bucket = bucket
        self.lat = array("q")
        self.svc: array[int] | None = array("q") if bucket.service is not None else None

    def fold(self) -> None:
        b = self.bucket
        lat = self.lat
        if lat:
            b.requests += len(lat)
            _fold(b.latency, lat)
            b.latency_sum += sum(lat)
            del lat[:]
        svc = self.svc
        if svc:
            _fold(b.service_hist, svc)
            b.service_sum_ += sum(svc)
            del svc[:]


def _fold(h: HdrHistogram, values: array[int]) -> None:
    record = h.record_value
    for v, n in Counter(values).items():
        record(v if v > 0 else 1, n)


class Recorder:
    """The hot-path sink of one worker; `harvest` hands over an Interval and starts fresh."""

    __slots__ = ("_checks", "_current", "_one_request", "_separate_service", "_sinks")

    def __init__(
        self, *, separate_service: bool, one_request: bool = False, start: float = 0.0
    ) -> None:
        self._separate_service = separate_service
        # An iteration of one request lasts as long as its latency, and there are as
        # many as requests: derive both at harvest instead of recording them.
        self._one_request = one_request
        self._current = Interval(start, start)
        self._checks = self._current.checks
        self._sinks: dict[Key, _Sink] = {}

    def _sink(self, key: Key) -> _Sink:
        b = self._current.buckets[key] = Bucket(self._separate_service)
        sink = self._sinks[key] = _Sink(b)
        return sink

    def record(
        self,
        step: str,
        upstream: str | None,
        latency_us: int,
        service_us: int,
        status: int,
        failed: bool,
        bytes_in: int,
        bytes_out: int,
        error: str | None = None,
    ) -> None:
        """One request; a transport failure has status 0 and its error kind in `error`."""
        key = (step, upstream)
        sink = self._sinks.get(key) or self._sink(key)
        sink.lat.append(latency_us)
        if sink.svc is not None:
            sink.svc.append(service_us)
        b = sink.bucket
        if failed:
            b.failed += 1
        if error is None:
            st = b.status
            st[status] = st.get(status, 0) + 1
        else:
            b.errors[error] = b.errors.get(error, 0) + 1
        b.bytes_in += bytes_in
        b.bytes_out += bytes_out

    def fold(self) -> None:
        """Move waiting latencies into the histograms; bounds the arrays between harvests."""
        for sink in self._sinks.values():
            sink.fold()

    def count_error(self, step: str, upstream: str | None, kind: str) -> None:
        """Name a failure of a recorded request: http 5xx, a capture, a poll limit."""
        b = self._current.buckets[(step, upstream)]
        b.errors[kind] = b.errors.get(kind, 0) + 1

    def check(self, name: str, ok: bool) -> None:
        pf = self._checks.get(name)
        if pf is None:
            pf = self._checks[name] = [0, 0]
        pf[0 if ok else 1] += 1

    def iteration(self, duration_us: int) -> None:
        """A finished iteration of several requests (one-request iterations come at harvest)."""
        cur = self._current
        cur.iterations += 1
        cur.iteration_duration.record_value(duration_us if duration_us > 0 else 1)
        cur.iteration_sum += duration_us

    def interrupted(self, n: int = 1) -> None:
        self._current.interrupted += n

    def dropped(self, n: int = 1) -> None:
        self._current.dropped += n

    def harvest(self, now: float, *, vus: int, vus_max: int, target: float) -> Interval:
        self.fold()
        cur = self._current
        cur.end = now
        cur.vus, cur.vus_max, cur.target = vus, vus_max, target
        if self._one_request:
            buckets = cur.buckets.values()
            cur.iteration_duration = merge_histograms(b.latency for b in buckets)
            cur.iteration_sum = sum(b.latency_sum for b in buckets)
            cur.iterations = sum(b.requests for b in buckets)
        self._current = Interval(now, now)
        self._checks = self._current.checks
        self._sinks = {}
        return cur
