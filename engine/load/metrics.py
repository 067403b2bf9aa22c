"""Per-interval metrics: HDR histograms and counters, per (step, upstream).

The recorder sits on the hot path, so `record` does a dict lookup, a few appends
to arrays and integer adds (the closed model's streaming VUs append to a step's
sink directly); values are folded into HDR histograms every 100 ms, and everything
derived (totals, per-step, per-upstream, percentiles) is computed once per interval
from mergeable parts.
An `Interval` can be encoded to plain data and back, so a worker in another
process (or on another machine) ships the same thing a local one hands over.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

# Microseconds, from 1 us to 1 hour, 3 significant digits (0.1% precision).
HIST_MIN_US = 1
HIST_MAX_US = 3_600_000_000
HIST_DIGITS = 3

Key = tuple[str, str | None]  # (step, upstream)
CheckKey = tuple[str, str]  # (step, check name): `checks{step:X}` picks a step's checks

# k6's timing breakdown of a request, kept for the whole interval (not per step: six
# histograms per bucket would multiply memory for little). The first three are spent
# opening a connection: zero on a reused one, as k6 reports them.
CONNECT_PHASES = ("http_req_blocked", "http_req_connecting", "http_req_tls_handshaking")
EXCHANGE_PHASES = ("http_req_sending", "http_req_waiting", "http_req_receiving")
PHASES = CONNECT_PHASES + EXCHANGE_PHASES


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
    """Figures of one (step, upstream) over one interval.

    `http_req_duration` is k6's: from the request's first byte sent to the response's
    last byte, kept as two histograms, expected responses and the others, so
    `{expected_response:true}` is exact and a run without failures holds one.
    `latency` is Surge's: from the moment the iteration was due; in a closed model
    the same figure, so it is kept only for the open model.
    """

    __slots__ = (
        "bytes_in",
        "bytes_out",
        "errors",
        "expected",
        "expected_sum",
        "failed",
        "requests",
        "status",
        "unexpected",
        "unexpected_sum",
        "waited",
        "waited_sum",
    )

    def __init__(self, separate_latency: bool = True) -> None:
        self.expected = new_histogram()
        self.unexpected: HdrHistogram | None = None  # made at the first failed request
        self.waited: HdrHistogram | None = new_histogram() if separate_latency else None
        # Sums give exact means; HdrHistogram's own mean walks every bucket (~60 ms).
        self.expected_sum = 0
        self.unexpected_sum = 0
        self.waited_sum = 0
        self.requests = 0
        self.failed = 0
        self.status: dict[int, int] = {}
        self.errors: dict[str, int] = {}
        self.bytes_in = 0
        self.bytes_out = 0

    @property
    def duration(self) -> HdrHistogram:
        """http_req_duration of every request (a merged copy only when some failed)."""
        bad = self.unexpected
        if bad is None or not bad.get_total_count():
            return self.expected
        if not self.expected.get_total_count():
            return bad
        return merge_histograms((self.expected, bad))

    @property
    def duration_sum(self) -> int:
        return self.expected_sum + self.unexpected_sum

    @property
    def latency(self) -> HdrHistogram:
        return self.waited if self.waited is not None else self.duration

    @property
    def latency_sum(self) -> int:
        return self.waited_sum if self.waited is not None else self.duration_sum

    def add(self, other: Bucket) -> None:
        """Merge another bucket in (exact: histograms and counters add)."""
        if other.expected.get_total_count():
            self.expected.add(other.expected)
        if other.unexpected is not None and other.unexpected.get_total_count():
            if self.unexpected is None:
                self.unexpected = new_histogram()
            self.unexpected.add(other.unexpected)
        if self.waited is not None:
            lat = other.latency
            if lat.get_total_count():
                self.waited.add(lat)
            self.waited_sum += other.latency_sum
        self.expected_sum += other.expected_sum
        self.unexpected_sum += other.unexpected_sum
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
            "expected": encode_histogram(self.expected),
            "unexpected": encode_histogram(self.unexpected or new_histogram()),
            "latency_sum": self.latency_sum,
            "expected_sum": self.expected_sum,
            "unexpected_sum": self.unexpected_sum,
            "requests": self.requests,
            "failed": self.failed,
            "status": {str(k): v for k, v in self.status.items()},
            "errors": dict(self.errors),
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
        }

    @classmethod
    def decode(cls, data: dict[str, Any]) -> Bucket:
        b = cls(separate_latency=True)
        b.waited = decode_histogram(data["latency"])
        b.expected = decode_histogram(data["expected"])
        b.unexpected = decode_histogram(data["unexpected"])
        b.waited_sum = data["latency_sum"]
        b.expected_sum = data["expected_sum"]
        b.unexpected_sum = data["unexpected_sum"]
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
    checks: dict[CheckKey, list[int]] = field(default_factory=dict)  # -> [passes, fails]
    vus: int = 0
    vus_max: int = 0
    target: float = 0.0  # the executor's target (VUs or iterations/s) at the interval's end
    phases: dict[str, HdrHistogram] = field(default_factory=dict)  # PHASES, once recorded
    phase_sums: dict[str, int] = field(default_factory=dict)
    groups: dict[str, HdrHistogram] = field(default_factory=dict)  # group_duration, by path
    group_sums: dict[str, int] = field(default_factory=dict)  # microseconds, per path
    protocols: dict[str, int] = field(default_factory=dict)  # connections opened, by `proto`
    # Each scenario's own interval, by name (setup and teardown: "(setup)", "(teardown)").
    # Empty for a run of the one "default" scenario, whose figures are the top level. A
    # worker ships lanes only; `flatten` (the Controller, once) makes the top level their sum.
    lanes: dict[str, Interval] = field(default_factory=dict)

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
        for ck, (p, f) in other.checks.items():
            pf = self.checks.setdefault(ck, [0, 0])
            pf[0] += p
            pf[1] += f
        self.vus += other.vus
        self.vus_max += other.vus_max
        self.target += other.target
        for name, h in other.phases.items():
            mine_h = self.phases.get(name)
            if mine_h is None:
                mine_h = self.phases[name] = new_histogram()
            mine_h.add(h)
            self.phase_sums[name] = self.phase_sums.get(name, 0) + other.phase_sums[name]
        for path, h in other.groups.items():
            mine_g = self.groups.get(path)
            if mine_g is None:
                mine_g = self.groups[path] = new_histogram()
            mine_g.add(h)
            self.group_sums[path] = self.group_sums.get(path, 0) + other.group_sums[path]
        for proto, n in other.protocols.items():
            self.protocols[proto] = self.protocols.get(proto, 0) + n
        for name, lane in other.lanes.items():
            mine_lane = self.lanes.get(name)
            if mine_lane is None:
                mine_lane = self.lanes[name] = Interval(lane.start, lane.end)
            mine_lane.add(lane)
        self.start = min(self.start, other.start)
        self.end = max(self.end, other.end)

    def extend(self, later: Interval) -> None:
        """Add the same worker's later interval: counts add, but its VUs are the later
        ones and vus_max the larger (`add` sums them, as it adds other workers)."""
        gauges = {name: (lane.vus, lane.target) for name, lane in later.lanes.items()}
        peaks = {
            n: max(lane.vus_max, self.lanes[n].vus_max)
            for n, lane in later.lanes.items()
            if n in self.lanes
        }
        vus, vus_max, target = later.vus, max(self.vus_max, later.vus_max), later.target
        self.add(later)
        self.vus, self.vus_max, self.target = vus, vus_max, target
        for name, (lane_vus, lane_target) in gauges.items():
            lane = self.lanes[name]
            lane.vus, lane.target = lane_vus, lane_target
            lane.vus_max = peaks.get(name, later.lanes[name].vus_max)

    def flatten(self) -> Interval:
        """The lanes' sum as the top level, the lanes kept: what the Controller hands on.
        An interval without lanes is its own total."""
        if not self.lanes:
            return self
        total = Interval(self.start, self.end)
        for lane in self.lanes.values():
            total.add(lane)
        total.start, total.end = self.start, self.end
        total.lanes = self.lanes
        return total

    def encode(self) -> dict[str, Any]:
        if self.lanes:  # the top level is their sum: never sent twice
            return {
                "start": self.start,
                "end": self.end,
                "lanes": {name: lane.encode() for name, lane in self.lanes.items()},
            }
        return {
            "start": self.start,
            "end": self.end,
            "buckets": [[k[0], k[1] or "", b.encode()] for k, b in self.buckets.items()],
            "iteration_duration": encode_histogram(self.iteration_duration),
            "iteration_sum": self.iteration_sum,
            "iterations": self.iterations,
            "interrupted": self.interrupted,
            "dropped": self.dropped,
            "checks": [[step, name, *pf] for (step, name), pf in self.checks.items()],
            "vus": self.vus,
            "vus_max": self.vus_max,
            "target": self.target,
            "phases": {k: encode_histogram(h) for k, h in self.phases.items()},
            "phase_sums": dict(self.phase_sums),
            "groups": {k: encode_histogram(h) for k, h in self.groups.items()},
            "group_sums": dict(self.group_sums),
            "protocols": dict(self.protocols),
        }

    @classmethod
    def decode(cls, data: dict[str, Any]) -> Interval:
        if "lanes" in data:
            lanes = {name: cls.decode(lane) for name, lane in data["lanes"].items()}
            return cls(start=data["start"], end=data["end"], lanes=lanes)
        return cls(
            start=data["start"],
            end=data["end"],
            buckets={(s, u or None): Bucket.decode(b) for s, u, b in data["buckets"]},
            iteration_duration=decode_histogram(data["iteration_duration"]),
            iteration_sum=data["iteration_sum"],
            iterations=data["iterations"],
            interrupted=data["interrupted"],
            dropped=data["dropped"],
            checks={(step, name): [p, f] for step, name, p, f in data["checks"]},
            vus=data["vus"],
            vus_max=data["vus_max"],
            target=data["target"],
            phases={k: decode_histogram(v) for k, v in data["phases"].items()},
            phase_sums=dict(data["phase_sums"]),
            groups={k: decode_histogram(v) for k, v in data["groups"].items()},
            group_sums=dict(data["group_sums"]),
            protocols=dict(data["protocols"]),
        )


class _Sink:
    """The figures of one (step, upstream) since the last fold: raw values wait in arrays
    and plain counters, and `fold` moves them into the current interval's bucket.

    `HdrHistogram.record_value` is pure Python (~2.3 us a call, the largest single
    cost per request); `array.append` is ~0.1 us, and folding counts each distinct
    value once (`Counter` runs in C). A sink lives as long as its recorder (folds empty
    it in place), so a hot loop may bind its arrays' `append` once (`Recorder.sink`).
    `failed` is `len(bad)` and `requests` `len(ok) + len(bad)`, counted at the fold.
    """

    __slots__ = ("bad", "bytes_in", "bytes_out", "errors", "lat", "ok", "status")

    def __init__(self, separate_latency: bool) -> None:
        self.ok = array("q")  # http_req_duration of expected responses
        self.bad = array("q")  # ... of the others
        self.lat: array[int] | None = array("q") if separate_latency else None
        self.status = array("H")  # each response's status (not a transport failure's)
        self.errors: dict[str, int] = {}
        self.bytes_in = 0
        self.bytes_out = 0

    def fold(self, b: Bucket) -> None:
        ok, bad = self.ok, self.bad
        if ok:
            b.requests += len(ok)
            _fold(b.expected, ok)
            b.expected_sum += sum(ok)
            del ok[:]
        if bad:
            b.requests += len(bad)
            b.failed += len(bad)
            if b.unexpected is None:
                b.unexpected = new_histogram()
            _fold(b.unexpected, bad)
            b.unexpected_sum += sum(bad)
            del bad[:]
        lat = self.lat
        if lat:
            _fold(b.waited, lat)  # type: ignore[arg-type]
            b.waited_sum += sum(lat)
            del lat[:]
        if self.status:
            st = b.status
            for status, n in Counter(self.status).items():
                st[status] = st.get(status, 0) + n
            del self.status[:]
        if self.errors:
            for kind, n in self.errors.items():
                b.errors[kind] = b.errors.get(kind, 0) + n
            self.errors.clear()
        b.bytes_in += self.bytes_in
        b.bytes_out += self.bytes_out
        self.bytes_in = self.bytes_out = 0

    def pending(self) -> bool:
        """Anything to fold: a request, or an error named without one (a bad request)."""
        return bool(self.ok or self.bad or self.errors)


def _fold(h: HdrHistogram, values: array[int], floor: int = 1) -> None:
    """Count `values` into `h` as `h.record_value(max(v, floor))` per value would, at a
    fraction of its cost: one count per distinct value (`Counter` runs in C), written
    into hdrh's counts array (a value below `sub_bucket_count` is its own index at unit
    magnitude 0: every latency under 2 ms here), and min, max and the total once per
    fold. A value past the histogram's range is dropped, as record_value drops it."""
    tally = Counter(values)
    lo, hi = max(min(tally), floor), max(max(tally), floor)
    index = h._counts_index_for
    if index(hi) >= h.counts_len:  # past an hour: rare, the slow way, which drops it
        record = h.record_value
        for v, n in tally.items():
            record(v if v > floor else floor, n)
        return
    direct = h.sub_bucket_count if h.unit_magnitude == 0 else 0
    counts = h.counts
    for v, n in tally.items():
        if v < floor:
            v = floor
        counts[v if v < direct else index(v)] += n
    h.total_count += len(values)
    if lo < h.min_value:
        h.min_value = lo
    if hi > h.max_value:
        h.max_value = hi


def _replace(h: HdrHistogram, pairs: list[tuple[int, int]]) -> HdrHistogram:
    """`h` (a fresh merge, ours to change) with one count of each pair's first value moved
    to its second, as `_fold` records them: taken off with a negative count (hdrh adds a
    count as given), then the minimum found again, since a value taken off may have been
    it. Walking the histogram instead costs ~40 ms of the loop's time, per harvest."""
    for old, new in pairs:
        h.record_value(old if old > 0 else 1, -1)
        h.record_value(new if new > 0 else 1)
    if h.get_total_count():
        h.min_value = h.get_value_at_percentile(0)  # the first value still counted
    return h


class Recorder:
    """The hot-path sink of one worker; `harvest` hands over an Interval and starts fresh."""

    __slots__ = (
        "_checks",
        "_current",
        "_groups",
        "_one_request",
        "_opened",
        "_phases",
        "_separate_latency",
        "_sinks",
    )

    def __init__(
        self, *, separate_latency: bool, one_request: bool = False, start: float = 0.0
    ) -> None:
        self._separate_latency = separate_latency
        # An iteration of one request lasts as long as its latency, and there are as
        # many as requests: derive both at harvest instead of recording them.
        self._one_request = one_request
        self._current = Interval(start, start)
        self._checks = self._current.checks
        self._sinks: dict[Key, _Sink] = {}
        self._phases: dict[str, array[int]] = {name: array("q") for name in PHASES}
        self._groups: dict[str, array[int]] = {}  # group path -> passes' durations (us)
        self._opened: list[tuple[int, int]] = []  # see opened_iteration

    def _sink(self, key: Key) -> _Sink:
        sink = self._sinks[key] = _Sink(self._separate_latency)
        return sink

    def sink(self, step: str) -> _Sink:
        """The sink of `step`'s untagged responses, for a hot loop that appends to it
        directly (`ok` and `status` of an expected response, `bytes_in`, `bytes_out`)
        instead of calling `record`: it lives as long as this recorder."""
        key = (step, None)
        return self._sinks.get(key) or self._sink(key)

    def exchanges(self) -> tuple[Callable[[int], None], ...]:
        """The appends behind `exchange` (sending, waiting, receiving), for a hot loop."""
        ph = self._phases
        return tuple(ph[name].append for name in EXCHANGE_PHASES)

    def record(
        self,
        step: str,
        upstream: str | None,
        latency_us: int,
        duration_us: int,
        status: int,
        failed: bool,
        bytes_in: int,
        bytes_out: int,
        error: str | None = None,
    ) -> None:
        """One request: its latency (from the due time) and http_req_duration (from the
        send); a transport failure has status 0 and its error kind in `error`."""
        key = (step, upstream)
        sink = self._sinks.get(key) or self._sink(key)
        if failed:
            sink.bad.append(duration_us)
        else:
            sink.ok.append(duration_us)
        if sink.lat is not None:
            sink.lat.append(latency_us)
        if error is None:
            sink.status.append(status)
        else:
            sink.errors[error] = sink.errors.get(error, 0) + 1
        sink.bytes_in += bytes_in
        sink.bytes_out += bytes_out

    def exchange(self, sending_us: int, waiting_us: int, receiving_us: int) -> None:
        """The send, wait (time to first byte) and receive of a request on a connection
        already open; `connected` for the first request on a new one."""
        ph = self._phases
        ph["http_req_sending"].append(sending_us)
        ph["http_req_waiting"].append(waiting_us)
        ph["http_req_receiving"].append(receiving_us)

    def connected(self, blocked_us: int, connecting_us: int, tls_us: int, proto: str) -> None:
        """The connect phases of the request that opened a connection (before `exchange`),
        and the protocol it speaks (k6's `proto`: "HTTP/1.1", "HTTP/2.0")."""
        protocols = self._current.protocols
        protocols[proto] = protocols.get(proto, 0) + 1
        ph = self._phases
        ph["http_req_blocked"].append(blocked_us)
        ph["http_req_connecting"].append(connecting_us)
        ph["http_req_tls_handshaking"].append(tls_us)

    def fold(self) -> None:
        """Move waiting values into the histograms; bounds the arrays between harvests."""
        cur = self._current
        buckets = cur.buckets
        for key, sink in self._sinks.items():
            if sink.pending():
                b = buckets.get(key)
                if b is None:
                    b = buckets[key] = Bucket(self._separate_latency)
                sink.fold(b)
        ph = self._phases
        # Every request has an exchange and one that opened a connection its connect
        # phases: the others reused one, and count as zero there.
        reused = len(ph["http_req_sending"]) - len(ph["http_req_blocked"])
        for name, values in ph.items():
            zeros = reused if name in CONNECT_PHASES else 0
            if not values and zeros <= 0:
                continue
            h = cur.phases.get(name)
            if h is None:
                h = cur.phases[name] = new_histogram()
                cur.phase_sums[name] = 0
            if zeros > 0:
                h.record_value(0, zeros)
            if values:
                _fold(h, values, 0)
                cur.phase_sums[name] += sum(values)
                del values[:]
        for path, values in self._groups.items():
            if not values:
                continue
            h = cur.groups.get(path)
            if h is None:
                h = cur.groups[path] = new_histogram()
                cur.group_sums[path] = 0
            _fold(h, values)
            cur.group_sums[path] += sum(values)
            del values[:]

    def count_error(self, step: str, upstream: str | None, kind: str) -> None:
        """Name a failure: of a recorded request (http 5xx, a capture, a poll limit), or of
        one never sent (a bad request)."""
        key = (step, upstream)
        errors = (self._sinks.get(key) or self._sink(key)).errors
        errors[kind] = errors.get(kind, 0) + 1

    def check(self, name: str, ok: bool, step: str = "") -> None:
        """One check's result, kept per step (k6 counts a name across steps as one)."""
        key = (step, name)
        pf = self._checks.get(key)
        if pf is None:
            pf = self._checks[key] = [0, 0]
        pf[0 if ok else 1] += 1

    def group(self, path: str, duration_us: int) -> None:
        """One pass through a group of steps (k6's group_duration, by its `group` path such
        as `::checkout`; pushed even when a step in it failed, as k6 does)."""
        values = self._groups.get(path)
        if values is None:
            values = self._groups[path] = array("q")
        values.append(duration_us)

    def iteration(self, duration_us: int) -> None:
        """A finished iteration of several requests (one-request iterations come at harvest)."""
        cur = self._current
        cur.iterations += 1
        cur.iteration_duration.record_value(duration_us if duration_us > 0 else 1)
        cur.iteration_sum += duration_us

    def opened_iteration(self, duration_us: int, iteration_us: int) -> None:
        """A one-request iteration that opened its connection lasted its connect too (k6's
        iteration_duration does), not only its request's duration: at harvest it counts
        `iteration_us` in place of `duration_us`. (The open model's latency has it already.)"""
        if self._one_request and not self._separate_latency:
            self._opened.append((duration_us, iteration_us))

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
            if self._opened:
                cur.iteration_duration = _replace(cur.iteration_duration, self._opened)
                cur.iteration_sum += sum(it - d for d, it in self._opened)
                self._opened = []
        self._current = Interval(now, now)
        self._checks = self._current.checks
        return cur
