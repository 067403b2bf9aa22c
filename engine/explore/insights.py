"""Why a run broke: findings read from its timeline, its errors, the generator's CPU,
a capacity search's steps and the server's observed series.

Pure functions over plain values (`find`), and `Evidence`, the bounded record the
Controller keeps of each interval so it can ask for them live and at the end. Each
finding is judged over a few intervals, not one, so a single noisy second decides
nothing; the thresholds below are the judgement, named once.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from engine.explore.model import CapacityStep, Insight, InsightKind
from engine.load.metrics import Interval
from engine.load.model import MAX_ROWS, Row
from engine.observe.series import Series

WINDOW = 3  # intervals after a candidate start that must agree
FLAT = 0.10  # throughput within 10% of where it was: it stopped growing
SHORT = 0.90  # served below 90% of the offered rate: the load outruns the server
RISE = 1.5  # latency (or in-flight) 1.5x where it was ...
RISE_MS = 5.0  # ... and at least 5 ms more: sub-millisecond noise is no rise
KNEE_SPREAD = 1.5  # the load must span 1.5x for a latency curve to have a knee
ERROR_RATE = 0.01  # errors rise: at least 1% of an interval's requests ...
ERROR_MIN = 2  # ... and at least two of them
HOT_CPU = 90.0  # the generator's busiest worker above 90% measures itself (Locust's line)
HOT_INTERVALS = 2
DROP_SHARE = 0.01  # dropped iterations past 1% of those offered
CORRELATION = 0.7  # a server series "moves with the latency"
SERIES_RISE = 1.2  # a series that ends 20% above where it began has risen
CPU_LIMIT = 0.9  # a process CPU series at 90% of a core (or 90 with unit "%")
SOAK_TREND = 0.8  # memory climbing: correlation with time through the run


@dataclass(frozen=True)
class Point:
    """One interval as the findings read it: its timeline row, the generator's busiest
    worker's CPU (%) and its errors by kind."""

    row: Row
    cpu: float = 0.0
    errors: Mapping[str, int] = field(default_factory=dict)

    def merged(self, later: Point) -> Point:
        errors = dict(self.errors)
        for k, v in later.errors.items():
            errors[k] = errors.get(k, 0) + v
        return Point(self.row.merged(later.row), max(self.cpu, later.cpu), errors)


def find(
    points: Sequence[Point],
    *,
    open_model: bool,
    steps: Sequence[CapacityStep] = (),
    observed: Mapping[str, Series] | None = None,
) -> tuple[Insight, ...]:
    """Every finding of a run, in time order. `open_model`: the load is an arrival rate
    (a row's target is the offered iterations/s); else VUs, and a finding's rate is the
    throughput then (requests/s)."""
    found = [
        saturation(points, open_model=open_model, steps=steps),
        errors(points, open_model=open_model),
        knee(points, open_model=open_model, steps=steps),
        *generator(points, open_model=open_model, steps=steps),
        *server(points, observed or {}, open_model=open_model),
    ]
    return tuple(sorted((f for f in found if f is not None), key=lambda f: (f.at, f.kind)))


# ------------------------------------------------------------------ helpers
def _rate(row: Row, open_model: bool) -> float:
    return row.target if open_model else row.rps


def _rises(before: float, after: float, *, floor: float = RISE_MS) -> bool:
    return after >= before * RISE and after - before >= floor


def _busy(points: Sequence[Point]) -> list[Point]:
    return [p for p in points if p.row.requests]


def _fmt_rate(rate: float) -> str:
    return f"{rate:,.0f}/s" if rate >= 10 else f"{rate:.3g}/s"


# --------------------------------------------------------------- saturation
def saturation(
    points: Sequence[Point], *, open_model: bool, steps: Sequence[CapacityStep] = ()
) -> Insight | None:
    """The first interval after which throughput stops growing for WINDOW intervals
    while the load does not fall and latency or in-flight requests keep rising (and,
    for an arrival rate, less is served than offered): the rate where it began."""
    if steps:
        return _saturation_steps(steps)
    pts = _busy(points)
    for i in range(len(pts) - WINDOW):
        if pts[i + 1].row.rps > pts[i].row.rps * (1 + FLAT) + 1:
            continue  # still growing (the cheap test first: this runs every interval)
        a, later = pts[i].row, [p.row for p in pts[i + 1 : i + 1 + WINDOW]]
        z = later[-1]
        if max(r.rps for r in later) > a.rps * (1 + FLAT) + 1:
            continue
        if open_model:
            served = z.iterations / z.dt if z.dt > 0 else 0.0
            if z.target < a.target or served >= SHORT * z.target:
                continue
        elif z.vus <= a.vus:
            continue  # a closed load that did not grow has nothing to saturate
        lat = _rises(a.p95, z.p95) and all(r.p95 >= a.p95 for r in later)
        inflight = open_model and _rises(a.vus, z.vus, floor=2) and z.vus >= later[0].vus
        if not (lat or inflight):
            continue
        what = f"p95 {a.p95:.0f} -> {z.p95:.0f} ms" if lat else f"in flight {a.vus} -> {z.vus}"
        offered = f" (offered {_fmt_rate(a.target)})" if open_model else ""
        return Insight(
            InsightKind.SATURATION,
            a.t,
            _rate(a, open_model),
            f"throughput stops growing at {a.rps:,.0f} req/s{offered} while {what}",
        )
    return None


def _saturation_steps(steps: Sequence[CapacityStep]) -> Insight | None:
    """A capacity search: some step served short of its rate with latency up; it began
    at the throughput no step got past (the ceiling), seen first at that step."""
    ordered = sorted((s for s in steps if not s.generator_limited), key=lambda s: s.rate)
    if not ordered:
        return None
    base = ordered[0].p95
    short = [s for s in ordered if s.achieved_rate < SHORT * s.rate and _rises(base, s.p95)]
    if not short:
        return None
    s = short[0]
    ceiling = max(x.achieved_rate for x in ordered)
    return Insight(
        InsightKind.SATURATION,
        s.start,
        ceiling,
        f"throughput stops at {_fmt_rate(ceiling)}: {_fmt_rate(s.rate)} offered, "
        f"{_fmt_rate(s.achieved_rate)} served, p95 {base:.0f} -> {s.p95:.0f} ms",
    )


# ------------------------------------------------------------------- errors
def errors(points: Sequence[Point], *, open_model: bool) -> Insight | None:
    """The first interval whose error rate rises above what came before (at least 1%
    and two requests), with the kind most of its errors were."""
    failed = requests = 0
    for p in points:
        r = p.row
        base = failed / requests if requests else 0.0
        if (
            r.failed >= ERROR_MIN
            and r.error_rate >= ERROR_RATE
            and r.error_rate >= max(2 * base, base + ERROR_RATE)
        ):
            kinds = sorted(p.errors.items(), key=lambda kv: (-kv[1], kv[0]))
            if kinds:
                kind, n = kinds[0]
                what = f"mostly {kind} ({n / max(sum(v for _, v in kinds), 1):.0%})"
            else:
                what = "responses of a status not expected"
            return Insight(
                InsightKind.ERRORS,
                r.t,
                _rate(r, open_model),
                f"errors rise to {r.error_rate:.1%} at {_fmt_rate(_rate(r, open_model))}: {what}",
            )
        failed += r.failed
        requests += r.requests
    return None


# --------------------------------------------------------------------- knee
def knee(
    points: Sequence[Point], *, open_model: bool, steps: Sequence[CapacityStep] = ()
) -> Insight | None:
    """Where p95 bends up against the offered load: the lowest load past which latency
    stays RISE above the baseline (the median of the lowest third of the loads). Needs
    a load that spans KNEE_SPREAD: a constant load has no curve."""
    if steps:
        driven = [s for s in steps if s.achieved_rate > 0 and not s.generator_limited]
        curve = sorted((s.rate, s.p95, s.start, s.rate) for s in driven)
    else:
        pts = _busy(points)
        if not pts:
            return None
        load = [p.row.target if open_model else float(p.row.vus) for p in pts]
        top = load.index(max(load))  # the rising part of the load: up to its peak
        curve = sorted(
            (x, p.row.p95, p.row.t, _rate(p.row, open_model))
            for x, p in zip(load[: top + 1], pts[: top + 1], strict=True)
        )
    if len(curve) < WINDOW + 1 or curve[-1][0] < KNEE_SPREAD * max(curve[0][0], 1e-9):
        return None
    base = statistics.median(c[1] for c in curve[: max(len(curve) // 3, 1)])
    start = len(curve)  # the first of the points that all stay up, to the end
    while start and _rises(base, curve[start - 1][1]):
        start -= 1
    if start in (0, len(curve)):
        return None  # never up, or up from the lowest load: no bend to point at
    x, _, at, rate = curve[start]
    where = _fmt_rate(x) if open_model or steps else f"{x:.0f} VUs"
    return Insight(
        InsightKind.KNEE,
        at,
        rate,
        f"latency bends up past {where}: p95 {base:.0f} -> {curve[-1][1]:.0f} ms",
    )


# ---------------------------------------------------------------- generator
def generator(
    points: Sequence[Point], *, open_model: bool, steps: Sequence[CapacityStep] = ()
) -> list[Insight]:
    """Surge itself limiting the run: its busiest worker's CPU past HOT_CPU for
    HOT_INTERVALS intervals (it measures its own queue, not the server), iterations
    dropped for want of a free VU, a capacity step it could not drive."""
    out: list[Insight] = []
    run = 0
    for p in points:
        run = run + 1 if p.cpu >= HOT_CPU else 0
        if run == HOT_INTERVALS:
            out.append(
                Insight(
                    InsightKind.GENERATOR,
                    p.row.t,
                    _rate(p.row, open_model),
                    f"Surge's CPU at {p.cpu:.0f}%: the generator limits the run "
                    "(more workers, or fewer VUs)",
                )
            )
            break
    offered = sum(p.row.iterations + p.row.dropped for p in points)
    dropped = sum(p.row.dropped for p in points)
    if dropped >= max(DROP_SHARE * offered, 2):
        first = next(p.row for p in points if p.row.dropped)
        out.append(
            Insight(
                InsightKind.GENERATOR,
                first.t,
                _rate(first, open_model),
                f"{dropped:,} iterations dropped ({dropped / max(offered, 1):.0%}): "
                f"no free VU from {first.t:.0f}s (more VUs, or a server that answers sooner)",
            )
        )
    limited = [s for s in steps if s.generator_limited]
    if limited:
        s = min(limited, key=lambda s: s.rate)
        out.append(
            Insight(
                InsightKind.GENERATOR,
                s.start,
                s.rate,
                f"Surge could not drive {_fmt_rate(s.rate)} (achieved {s.achieved_rate:,.0f}/s): "
                "not the server's limit",
            )
        )
    return out


# ------------------------------------------------------------------- server
def _is_host(s: Series) -> bool:
    """A host-wide series (node_exporter's): on one machine mostly the generator's."""
    return s.name.startswith(("host_", "node_")) or s.source.endswith(":9100/metrics")


def _is_cpu(s: Series) -> bool:
    return "cpu" in s.name.lower()


def _is_memory(s: Series) -> bool:
    name = s.name.lower()
    return any(w in name for w in ("memory", "mem", "rss", "heap"))


def _latency_along(busy: Sequence[Point], times: Sequence[float]) -> list[float | None]:
    """p95 of the interval with requests nearest each of `times` (both in time order):
    one walk along the two."""
    out: list[float | None] = []
    j = 0
    for t in times:
        while j + 1 < len(busy) and abs(busy[j + 1].row.t - t) <= abs(busy[j].row.t - t):
            j += 1
        out.append(busy[j].row.p95 if busy else None)
    return out


def _correlation(xs: Sequence[float], ys: Sequence[float]) -> float:
    if len(xs) < WINDOW + 1 or len(set(xs)) < 2 or len(set(ys)) < 2:
        return 0.0
    return statistics.correlation(xs, ys)


def server(
    points: Sequence[Point], observed: Mapping[str, Series], *, open_model: bool
) -> list[Insight]:
    """Server-side series that explain the latency: a process CPU at its limit as
    latency rises, memory climbing through the run, any other series moving with the
    latency. The SUT's own series are judged where present; host series otherwise."""
    busy = _busy(points)
    own = [s for s in observed.values() if not _is_host(s) and s.values]
    candidates = own or [s for s in observed.values() if s.values]
    out: list[Insight] = []
    for s in candidates:
        vals = list(s.values)
        lat = _latency_along(busy, s.times)
        pairs = [(v, y) for v, y in zip(vals, lat, strict=False) if y is not None]
        r = _correlation([v for v, _ in pairs], [y for _, y in pairs])
        first, last = vals[0], vals[-1]
        limit = 100.0 * CPU_LIMIT if s.unit == "%" else CPU_LIMIT
        if _is_cpu(s) and max(vals) >= limit:
            i = next(i for i, v in enumerate(vals) if v >= limit)
            out.append(
                _series_insight(
                    s,
                    i,
                    points,
                    open_model,
                    f"{s.name} at its limit ({vals[i]:.3g}{s.unit})"
                    + (f", moving with the latency (r={r:.2f})" if r >= CORRELATION else ""),
                )
            )
        elif _is_memory(s) and last >= first * SERIES_RISE and _climbs(s):
            out.append(
                _series_insight(
                    s,
                    0,
                    points,
                    open_model,
                    f"{s.name} climbs through the run: {_size(first)} -> {_size(last)}",
                )
            )
        elif r >= CORRELATION and max(vals) >= min(vals) * SERIES_RISE:
            i = vals.index(max(vals))
            out.append(
                _series_insight(
                    s,
                    i,
                    points,
                    open_model,
                    f"{s.name} moves with the latency (r={r:.2f}): "
                    f"{min(vals):.3g} -> {max(vals):.3g}{s.unit}",
                )
            )
    return out


def _climbs(s: Series) -> bool:
    """Rising with time through the run, not one step up (a soak's leak)."""
    return _correlation(list(s.times), list(s.values)) >= SOAK_TREND


def _size(v: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if v >= scale:
            return f"{v / scale:.3g} {unit}"
    return f"{v:.3g}"


def _series_insight(
    s: Series, i: int, points: Sequence[Point], open_model: bool, text: str
) -> Insight:
    at = s.times[i]
    near = [p.row for p in points if p.row.t >= at]
    rate = _rate(near[0], open_model) if near else None
    return Insight(InsightKind.SERVER, at, rate, text)


# ----------------------------------------------------------------- evidence
class Evidence:
    """What the findings read, kept interval by interval for the Controller: bounded
    as the timeline is (adjacent intervals merge past MAX_ROWS)."""

    def __init__(self, *, open_model: bool) -> None:
        self.open_model = open_model
        self.points: list[Point] = []
        self._added = 0
        self._due = 0  # live: recomputed when this many intervals have come
        self._found: tuple[Insight, ...] = ()
        # Where the server's series come from when a caller passes none (the run
        # session's observer): the findings then read them every time they are made.
        self.series: Callable[[], Mapping[str, Series]] | None = None

    def add(self, row: Row, iv: Interval, cpu: float, *, join_last: bool = False) -> None:
        """The interval `iv` the model made `row` of (`join_last`: folded into the last
        one, as the model folds a short final interval), and the generator's CPU then."""
        errors: dict[str, int] = {}
        for b in iv.buckets.values():
            for k, v in b.errors.items():
                errors[k] = errors.get(k, 0) + v
        point = Point(row, cpu, errors)
        self._added += 1
        if join_last and self.points:
            last = self.points[-1]
            point = Point(row, max(last.cpu, cpu), last.merged(point).errors)
            self.points[-1] = point
            return
        self.points.append(point)
        if len(self.points) > MAX_ROWS:
            pts = self.points
            self.points = [a.merged(b) for a, b in zip(pts[::2], pts[1::2], strict=False)]
            if len(pts) % 2:
                self.points.append(pts[-1])

    def find(
        self,
        steps: Sequence[CapacityStep] = (),
        observed: Mapping[str, Series] | None = None,
        *,
        final: bool = False,
    ) -> tuple[Insight, ...]:
        """The findings; live (not `final`) recomputed once a 60th of the run has come
        since the last time, so a long run pays ~100 ms a minute, not each second."""
        if final or self._added >= self._due:
            if not observed and self.series is not None:
                observed = self.series()
            self._found = find(
                self.points, open_model=self.open_model, steps=steps, observed=observed
            )
            self._due = self._added + max(1, len(self.points) // 60)
        return self._found
