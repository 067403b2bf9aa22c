"""The run model: cumulative figures, a bounded timeline and live threshold states.

Memory does not grow with request count or run length: cumulative histograms
per (step, upstream), a timeline that halves its resolution past MAX_ROWS, and
only as many recent intervals as the longest threshold window needs.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from hdrh.histogram import HdrHistogram

from engine.load.metrics import PHASES, Bucket, Interval, Key, merge_histograms
from engine.load.tags import DEFAULT_LANE, Level, Selection, TagIndex
from engine.load.thresholds import COUNTER, GAUGE, RATE, TREND, Threshold

MAX_ROWS = 3600
PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)


@dataclass(frozen=True)
class LatencyStats:
    """Milliseconds; what a summary, a report and a comparison show."""

    count: int = 0
    min: float = 0.0
    mean: float = 0.0
    p50: float = 0.0
    p90: float = 0.0
    p95: float = 0.0
    p99: float = 0.0
    p99_9: float = 0.0
    max: float = 0.0

    @classmethod
    def of(cls, h: HdrHistogram, total_us: int) -> LatencyStats:
        """`total_us` is the exact sum of the recorded values (HdrHistogram's mean is slow)."""
        n = h.get_total_count()
        if not n:
            return cls()
        pct = h.get_percentile_to_value_dict(list(PERCENTILES))
        return cls(
            count=n,
            min=h.get_min_value() / 1000,
            mean=total_us / n / 1000,
            p50=pct[50.0] / 1000,
            p90=pct[90.0] / 1000,
            p95=pct[95.0] / 1000,
            p99=pct[99.0] / 1000,
            p99_9=pct[99.9] / 1000,
            max=h.get_max_value() / 1000,
        )

    def as_dict(self) -> dict[str, float]:
        return {k: round(getattr(self, k), 3) for k in _STAT_FIELDS}


_STAT_FIELDS = ("min", "mean", "p50", "p90", "p95", "p99", "p99_9", "max")


@dataclass(frozen=True)
class Figures:
    """The summary of one selection (all, a step, an upstream) over some seconds."""

    requests: int
    failed: int
    error_rate: float
    rps: float
    latency: LatencyStats  # Surge's: from the due time
    duration: LatencyStats  # k6's http_req_duration: from the send
    expected: LatencyStats  # http_req_duration{expected_response:true}
    status: dict[int, int]
    errors: dict[str, int]
    bytes_in: int
    bytes_out: int

    @classmethod
    def of(cls, b: Bucket, seconds: float) -> Figures:
        return cls(
            requests=b.requests,
            failed=b.failed,
            error_rate=b.failed / b.requests if b.requests else 0.0,
            rps=b.requests / seconds if seconds > 0 else 0.0,
            latency=LatencyStats.of(b.latency, b.latency_sum),
            duration=LatencyStats.of(b.duration, b.duration_sum),
            expected=LatencyStats.of(b.expected, b.expected_sum),
            status=dict(sorted(b.status.items())),
            errors=dict(sorted(b.errors.items(), key=lambda kv: -kv[1])),
            bytes_in=b.bytes_in,
            bytes_out=b.bytes_out,
        )


@dataclass(frozen=True)
class Row:
    """One timeline row: an interval's figures (latency in ms)."""

    t: float  # end of the interval, seconds since the start
    dt: float
    requests: int
    failed: int
    rps: float
    error_rate: float
    p50: float
    p90: float
    p95: float
    p99: float
    duration_p50: float
    duration_p99: float
    vus: int
    vus_max: int
    target: float
    iterations: int
    dropped: int
    bytes_in: int
    bytes_out: int

    def merged(self, later: Row) -> Row:
        """Two adjacent rows as one (downsampling); percentiles keep the worse."""
        req = self.requests + later.requests
        dt = self.dt + later.dt
        failed = self.failed + later.failed
        return Row(
            t=later.t,
            dt=dt,
            requests=req,
            failed=failed,
            rps=req / dt if dt > 0 else 0.0,
            error_rate=failed / req if req else 0.0,
            p50=max(self.p50, later.p50),
            p90=max(self.p90, later.p90),
            p95=max(self.p95, later.p95),
            p99=max(self.p99, later.p99),
            duration_p50=max(self.duration_p50, later.duration_p50),
            duration_p99=max(self.duration_p99, later.duration_p99),
            vus=later.vus,
            vus_max=max(self.vus_max, later.vus_max),
            target=later.target,
            iterations=self.iterations + later.iterations,
            dropped=self.dropped + later.dropped,
            bytes_in=self.bytes_in + later.bytes_in,
            bytes_out=self.bytes_out + later.bytes_out,
        )


@dataclass(frozen=True)
class ScenarioRow:
    """One scenario in a snapshot: its executor, state and own figures (the console's row)."""

    name: str
    executor: str
    state: str  # "waiting" | "running" | "done"
    vus: int  # the last interval's
    target: float  # the executor's target (VUs or iterations/s) at the last interval's end
    rps: float  # the last interval's
    iterations: int  # over the run so far
    dropped: int
    p95_ms: float  # http_req_duration over the run so far
    error_rate: float
    start_time: float  # k6's startTime
    end_time: float  # start_time + the executor's planned duration


@dataclass(frozen=True)
class ThresholdState:
    threshold: Threshold
    ok: bool
    observed: float | None
    failed_at: float | None = None  # run seconds when a window (or abort) verdict failed

    def describe_observed(self) -> str:
        th = self.threshold
        if self.observed is None:
            return "no data"
        agg = "p(" + f"{th.percentile:g}" + ")" if th.aggregation == "p" else th.aggregation
        unit = "ms" if th.kind == TREND else ""
        return f"{agg}={self.observed:.4g}{unit}"


def bucket_total(buckets: Iterable[Bucket]) -> Bucket:
    out = Bucket()
    for b in buckets:
        out.add(b)
    return out


def _matches(key: Key, tags: Sequence[tuple[str, str]]) -> bool:
    """Whether a (step, upstream) bucket is selected by `tags` (expected_response splits
    inside a bucket: see `_duration`). A cohort's answers are tagged `green+beta`: they
    are green's too, so `upstream:green` selects them and `upstream:green+beta` only them."""
    for name, value in tags:
        if name == "step" and key[0] != value:
            return False
        if name == "upstream" and key[1] != value and (key[1] or "").partition("+")[0] != value:
            return False
    return True


@dataclass
class RunModel:
    """The run's figures; `lanes` holds each scenario's (and setup's, teardown's) own,
    built from its intervals as the whole is from the totals (no thresholds of its own:
    a threshold picks lanes by its tags through `index`)."""

    thresholds: tuple[Threshold, ...] = ()
    total: Interval = field(default_factory=lambda: Interval(0.0, 0.0))
    timeline: list[Row] = field(default_factory=list)
    states: list[ThresholdState] = field(default_factory=list)
    elapsed: float = 0.0
    index: TagIndex = field(default_factory=TagIndex)
    lanes: dict[str, RunModel] = field(default_factory=dict)

    def __post_init__(self) -> None:
        windows = [t.window_s for t in self.thresholds if t.window_s]
        self._keep = max(windows, default=0.0)
        self._recent: deque[Interval] = deque()
        self.states = [ThresholdState(t, True, None) for t in self.thresholds]
        self._selections = {t: self.index.select(t) for t in self.thresholds}

    # ------------------------------------------------------------- intake
    def add(self, iv: Interval, *, join_last: bool = False) -> Row:
        """`join_last` folds a short final interval into the previous row, so a run's
        last fraction of a second does not plot as a spike of requests/s."""
        self.total.add(iv)
        self.elapsed = max(self.elapsed, iv.end)
        for name, lane_iv in iv.lanes.items():
            lane = self.lanes.get(name)
            if lane is None:
                lane = self.lanes[name] = RunModel()
            lane.add(lane_iv, join_last=join_last)
        if self._keep:
            self._recent.append(iv)
            while self._recent and self._recent[0].end <= iv.end - self._keep:
                self._recent.popleft()
        row = self._row(iv)
        if join_last and self.timeline:
            row = self.timeline[-1].merged(row)
            self.timeline[-1] = row
        else:
            self.timeline.append(row)
        if len(self.timeline) > MAX_ROWS:
            rows = self.timeline
            self.timeline = [a.merged(b) for a, b in zip(rows[::2], rows[1::2], strict=False)]
            if len(rows) % 2:
                self.timeline.append(rows[-1])
        return row

    @staticmethod
    def _row(iv: Interval) -> Row:
        b = bucket_total(iv.buckets.values())
        dt = max(iv.end - iv.start, 1e-9)
        lat = b.latency
        svc = b.duration
        pct = lat.get_percentile_to_value_dict([50, 90, 95, 99]) if b.requests else {}
        return Row(
            t=iv.end,
            dt=dt,
            requests=b.requests,
            failed=b.failed,
            rps=b.requests / dt,
            error_rate=b.failed / b.requests if b.requests else 0.0,
            p50=pct.get(50, 0) / 1000,
            p90=pct.get(90, 0) / 1000,
            p95=pct.get(95, 0) / 1000,
            p99=pct.get(99, 0) / 1000,
            duration_p50=svc.get_value_at_percentile(50) / 1000 if b.requests else 0.0,
            duration_p99=svc.get_value_at_percentile(99) / 1000 if b.requests else 0.0,
            vus=iv.vus,
            vus_max=iv.vus_max,
            target=iv.target,
            iterations=iv.iterations,
            dropped=iv.dropped,
            bytes_in=b.bytes_in,
            bytes_out=b.bytes_out,
        )

    # ------------------------------------------------------------ figures
    def figures(self, key_filter: Sequence[tuple[str, str]] = ()) -> Figures:
        sel = [b for k, b in self.total.buckets.items() if _matches(k, key_filter)]
        return Figures.of(bucket_total(sel), self.elapsed)

    def steps(self) -> list[str]:
        """In the order first seen, which for a flow is its order."""
        return list(dict.fromkeys(k[0] for k in self.total.buckets))

    def upstreams(self) -> list[str]:
        return sorted({k[1] for k in self.total.buckets if k[1] is not None})

    def checks(self) -> dict[str, tuple[int, int]]:
        """Passes and fails per check name over every step, as k6's summary counts them."""
        out: dict[str, tuple[int, int]] = {}
        for (_, name), (p, f) in self.total.checks.items():
            was = out.get(name, (0, 0))
            out[name] = (was[0] + p, was[1] + f)
        return dict(sorted(out.items()))

    def checks_rate(self) -> float | None:
        p = sum(v[0] for v in self.total.checks.values())
        f = sum(v[1] for v in self.total.checks.values())
        return p / (p + f) if p + f else None

    def groups(self) -> dict[str, LatencyStats]:
        """k6's group_duration per group path (`::checkout`), over the run."""
        sums = self.total.group_sums
        return {
            path: LatencyStats.of(h, sums[path]) for path, h in sorted(self.total.groups.items())
        }

    def scenario_row(
        self,
        name: str,
        executor: str,
        start_time: float,
        end_time: float,
        *,
        finished: bool,
        iterations: int = 0,
    ) -> ScenarioRow:
        """Scenario `name` as the console's table shows it: its own lane's figures (a run
        without lanes is the one scenario's); `end_time` is where its plan ends, and
        `iterations` the budget of an iteration executor (done when they are)."""
        lane = self.lanes.get(name) or (self if not self.lanes else RunModel())
        last = lane.timeline[-1] if lane.timeline else None
        ran_out = 0 < iterations <= lane.total.iterations + lane.total.interrupted
        if finished or ran_out or (last is not None and not last.vus and self.elapsed >= end_time):
            state = "done"
        elif last is None or self.elapsed < start_time:
            state = "waiting"
        else:
            state = "running"
        b = bucket_total(lane.total.buckets.values())
        p95 = b.duration.get_value_at_percentile(95) / 1000 if b.requests else 0.0
        return ScenarioRow(
            name=name,
            executor=executor,
            state=state,
            vus=last.vus if last is not None else 0,
            target=last.target if last is not None else 0.0,
            rps=last.rps if last is not None else 0.0,
            iterations=lane.total.iterations,
            dropped=lane.total.dropped,
            p95_ms=p95,
            error_rate=b.failed / b.requests if b.requests else 0.0,
            start_time=start_time,
            end_time=end_time,
        )

    # --------------------------------------------------------- thresholds
    def value(
        self, th: Threshold, iv: Interval, seconds: float, *, final: bool = False
    ) -> float | None:
        """The observed value of a threshold's metric and aggregation over `iv`.

        None for no samples: not judged while the run goes (k6 skips empty sinks). At
        the end k6 judges an empty trend, counter or gauge as 0 (its sinks' zero
        values: `http_reqs{nosuch:tag} count>0` fails); an empty rate stays unjudged.
        """
        observed = self._observe(th, iv, seconds)
        if observed is None and final and th.kind != RATE:
            return 0.0
        return observed

    def _observe(self, th: Threshold, iv: Interval, seconds: float) -> float | None:
        kind = th.kind
        sel = self._selection(th)
        if sel.level == Level.RUN and not sel.everything and not sel.lane(""):
            return None  # a whole-run figure under a tag the run does not have
        if kind == TREND:
            if th.metric == "iteration_duration":
                lanes = self._lane_intervals(sel, iv)
                h = merge_histograms(x.iteration_duration for x in lanes)
                return trend_value(h, sum(x.iteration_sum for x in lanes), th)
            if th.metric == "group_duration":
                parts = [
                    (h, x.group_sums[path])
                    for lane, x in _lanes(iv).items()
                    for path, h in x.groups.items()
                    if sel.everything or sel.item(lane, path)
                ]
                h = merge_histograms(h for h, _ in parts)
                return trend_value(h, sum(n for _, n in parts), th)
            if th.metric in iv.phases:
                return trend_value(iv.phases[th.metric], iv.phase_sums[th.metric], th)
            if th.metric in PHASES:
                return None
            sel_b = self._buckets(th, iv)
            if th.metric == "latency":
                h = merge_histograms(b.latency for b in sel_b)
                return trend_value(h, sum(b.latency_sum for b in sel_b), th)
            return trend_value(*_duration(sel_b, th.tag_dict.get("expected_response")), th)
        if th.metric == "checks":
            check = th.tag_dict.get("check")
            pfs = [
                pf
                for lane, x in (_lanes(iv).items() if not sel.everything else [("", iv)])
                for (step, name), pf in x.checks.items()
                if (check is None or name == check) and (sel.everything or sel.item(lane, step))
            ]
            passed = sum(p for p, _ in pfs)
            total = passed + sum(f for _, f in pfs)
            return passed / total if total else None
        if kind == RATE:  # http_req_failed
            sel_b = self._buckets(th, iv)
            req = sum(b.requests for b in sel_b)
            failed = sum(b.failed for b in sel_b)
            want = th.tag_dict.get("expected_response")
            if want is not None:  # k6: failed == not expected, so these are 0 or 1
                req = req - failed if want == "true" else failed
                failed = 0 if want == "true" else failed
            return failed / req if req else None
        if kind == COUNTER:
            count = self._count(th, iv)
            if not count:  # no samples: k6's counters emit none of 0
                return None
            if th.aggregation == "rate":
                return count / seconds if seconds > 0 else None
            return float(count)
        if kind == GAUGE:
            values = [r.vus if th.metric == "vus" else r.vus_max for r in self.timeline]
            if not values:
                return None
            if th.aggregation == "min":
                return float(min(values))
            if th.aggregation == "max":
                return float(max(values))
            return float(values[-1])
        return None

    def _selection(self, th: Threshold) -> Selection:
        """Resolved once per threshold (`report merge` judges ones the model was not given)."""
        sel = self._selections.get(th)
        if sel is None:
            sel = self._selections[th] = self.index.select(th)
        return sel

    def _buckets(self, th: Threshold, iv: Interval) -> list[Bucket]:
        """The (step, upstream) buckets of the lanes and steps the threshold selects."""
        sel = self._selection(th)
        upstream = th.tag_dict.get("upstream")
        if sel.everything:
            items: Iterable[tuple[Key, Bucket]] = iv.buckets.items()
        else:
            items = [
                (k, b)
                for lane, x in _lanes(iv).items()
                for k, b in x.buckets.items()
                if sel.item(lane, k[0])
            ]
        return [b for k, b in items if upstream is None or k[1] == upstream]

    @staticmethod
    def _lane_intervals(sel: Selection, iv: Interval) -> list[Interval]:
        if sel.everything:
            return [iv]
        return [x for lane, x in _lanes(iv).items() if sel.lane(lane)]

    def _count(self, th: Threshold, iv: Interval) -> int:
        if th.metric in ("iterations", "dropped_iterations"):
            lanes = self._lane_intervals(self._selection(th), iv)
            if th.metric == "iterations":
                return sum(x.iterations for x in lanes)
            return sum(x.dropped for x in lanes)
        sel = self._buckets(th, iv)
        tags = th.tag_dict
        if th.metric == "data_received":
            return sum(b.bytes_in for b in sel)
        if th.metric == "data_sent":
            return sum(b.bytes_out for b in sel)
        if (status := tags.get("status")) is not None:  # http_reqs
            if not status.isdigit():
                return 0
            if int(status) == 0:  # k6's status of a request that got no response
                return sum(b.requests - sum(b.status.values()) for b in sel)
            return sum(b.status.get(int(status), 0) for b in sel)
        want = tags.get("expected_response")
        if want is not None:
            failed = sum(b.failed for b in sel)
            return sum(b.requests for b in sel) - failed if want == "true" else failed
        return sum(b.requests for b in sel)

    def evaluate(self, *, final: bool = False) -> list[ThresholdState]:
        """Judge every threshold now; a window verdict that failed stays failed."""
        window_iv: Interval | None = None
        out = []
        for state in self.states:
            th = state.threshold
            if th.window_s:
                if state.failed_at is not None:
                    out.append(state)
                    continue
                full = self.elapsed >= th.window_s - 1e-6
                if not full and not final:
                    out.append(state)
                    continue
                if full:
                    if window_iv is None:
                        window_iv = self._window_interval()
                    iv, secs = window_iv, min(th.window_s, self.elapsed)
                else:  # a run shorter than its window is judged whole
                    iv, secs = self.total, self.elapsed
                observed = self.value(th, iv, secs, final=final)
                ok = th.passes(observed)
                out.append(ThresholdState(th, ok, observed, None if ok else self.elapsed))
            else:
                observed = self.value(th, self.total, self.elapsed, final=final)
                ok = th.passes(observed)
                failed_at = state.failed_at if state.failed_at is not None else self.elapsed
                out.append(ThresholdState(th, ok, observed, None if ok else failed_at))
        self.states = out
        return out

    def _window_interval(self) -> Interval:
        out = Interval(math.inf, 0.0)
        for iv in self._recent:
            out.add(iv)
        return out

    def passed(self) -> bool:
        return all(s.ok for s in self.states)


def _lanes(iv: Interval) -> dict[str, Interval]:
    """An interval's lanes; one without is the one default scenario's."""
    return iv.lanes or {DEFAULT_LANE: iv}


def _duration(sel: Sequence[Bucket], expected: str | None) -> tuple[HdrHistogram, int]:
    """http_req_duration of the selected buckets, of all requests or, with the
    expected_response tag, of the expected ones ("true") or the others ("false")."""
    if expected == "true":
        return merge_histograms(b.expected for b in sel), sum(b.expected_sum for b in sel)
    if expected == "false":
        return merge_histograms(b.unexpected for b in sel), sum(b.unexpected_sum for b in sel)
    return merge_histograms(b.duration for b in sel), sum(b.duration_sum for b in sel)


def trend_value(h: HdrHistogram, total_us: int, th: Threshold) -> float | None:
    n = h.get_total_count()
    if not n:
        return None
    agg = th.aggregation
    if agg == "avg":
        return total_us / n / 1000
    if agg == "min":
        return h.get_min_value() / 1000
    if agg == "max":
        return h.get_max_value() / 1000
    if agg == "med":
        return h.get_value_at_percentile(50) / 1000
    return h.get_value_at_percentile(th.percentile or 0.0) / 1000
