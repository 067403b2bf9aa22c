"""Metrics merge exactly: what 1 worker or N workers measured gives the same report."""

from __future__ import annotations

import random

import pytest

from engine.load.metrics import PHASES, Bucket, Interval, Recorder, new_histogram
from engine.load.model import LatencyStats, RunModel
from engine.load.thresholds import parse_threshold


def _record(rec: Recorder, values: list[int], step: str = "a", upstream: str | None = None) -> None:
    for v in values:
        rec.record(step, upstream, v, v // 2, 200 if v % 7 else 500, v % 7 == 0, 100, 50)
        rec.iteration(v)
        rec.check("ok", v % 7 != 0)


def test_merged_intervals_equal_one_interval_of_all_values() -> None:
    rng = random.Random(1)
    values = [rng.randint(50, 500_000) for _ in range(20_000)]
    one = Recorder(separate_latency=True)
    _record(one, values)
    whole = one.harvest(1.0, vus=2, vus_max=2, target=2)
    parts = []
    for chunk in (values[:7000], values[7000:]):
        rec = Recorder(separate_latency=True)
        _record(rec, chunk)
        parts.append(rec.harvest(1.0, vus=1, vus_max=1, target=1))
    merged = Interval(0.0, 0.0)
    for p in parts:
        merged.add(Interval.decode(p.encode()))  # across a process boundary, too
    a, b = whole.buckets[("a", None)], merged.buckets[("a", None)]
    for attr in ("requests", "failed", "status", "bytes_in", "bytes_out", "latency_sum"):
        assert getattr(a, attr) == getattr(b, attr), attr
    assert LatencyStats.of(a.latency, a.latency_sum) == LatencyStats.of(b.latency, b.latency_sum)
    assert LatencyStats.of(a.duration, a.duration_sum) == LatencyStats.of(
        b.duration, b.duration_sum
    )
    assert LatencyStats.of(a.expected, a.expected_sum) == LatencyStats.of(
        b.expected, b.expected_sum
    )
    assert whole.checks == merged.checks
    assert (whole.iterations, whole.vus, whole.target) == (merged.iterations, 2, 2)


def test_closed_model_buckets_share_one_histogram_for_both_timings() -> None:
    rec = Recorder(separate_latency=False)
    rec.record("a", None, 1000, 1000, 200, False, 1, 1)
    b = rec.harvest(1.0, vus=1, vus_max=1, target=1).buckets[("a", None)]
    assert b.waited is None and b.unexpected is None and b.latency is b.expected
    c = Bucket()
    c.add(b)
    assert c.duration.get_total_count() == c.latency.get_total_count() == 1


def test_expected_response_splits_http_req_duration_as_k6_tags_it() -> None:
    """9 fast answers that pass and 1 slow failure: {expected_response:true} leaves it out."""
    rec = Recorder(separate_latency=True)
    for _ in range(9):
        rec.record("a", None, 2000, 1000, 200, False, 1, 1)
    rec.record("a", None, 900_000, 800_000, 503, True, 1, 1)
    model = RunModel(
        tuple(
            parse_threshold(key, expr)
            for key, expr in (
                ("http_req_duration", "max<100"),
                ("http_req_duration{expected_response:true}", "max<100"),
                ("http_req_duration{expected_response:false}", "min>700"),
                ("latency", "max>850"),
                ("http_reqs{expected_response:true}", "count==9"),
                ("http_req_failed{expected_response:false}", "rate==1"),
            )
        )
    )
    model.add(rec.harvest(1.0, vus=1, vus_max=1, target=1))
    ok = [s.ok for s in model.evaluate(final=True)]
    assert ok == [False, True, True, True, True, True]
    f = model.figures()
    assert (f.duration.max, f.expected.max, f.latency.max) == (
        pytest.approx(800, rel=1e-3),
        pytest.approx(1.0, rel=1e-3),
        pytest.approx(900, rel=1e-3),
    )


def test_the_timing_breakdown_counts_reused_connections_as_zero_connect_time() -> None:
    rec = Recorder(separate_latency=False)
    rec.connected(5, 300, 700, "HTTP/1.1")
    rec.exchange(10, 900, 40)
    for _ in range(3):
        rec.exchange(10, 500, 40)
    iv = Interval.decode(rec.harvest(1.0, vus=1, vus_max=1, target=1).encode())
    assert {k: h.get_total_count() for k, h in iv.phases.items()} == {k: 4 for k in PHASES}
    assert iv.phases["http_req_connecting"].get_max_value() == 300
    assert iv.phases["http_req_connecting"].get_value_at_percentile(50) == 0
    assert iv.phase_sums["http_req_waiting"] == 900 + 3 * 500
    assert iv.protocols == {"HTTP/1.1": 1}
    model = RunModel((parse_threshold("http_req_waiting", "avg<0.6"),))
    model.add(iv)
    assert model.evaluate(final=True)[0].observed == pytest.approx(0.6)


def test_a_one_request_iteration_that_connected_lasts_its_connect_too() -> None:
    """k6's iteration_duration includes the connect; http_req_duration does not."""
    rec = Recorder(separate_latency=False, one_request=True)
    for duration in (1000, 1000, 2000):
        rec.record("a", None, duration, duration, 200, False, 10, 10)
    rec.opened_iteration(1000, 6000)  # the first request opened the connection: +5 ms
    iv = rec.harvest(1.0, vus=1, vus_max=1, target=1)
    assert iv.iterations == 3 and iv.iteration_duration.get_total_count() == 3
    assert iv.iteration_sum == 6000 + 1000 + 2000
    assert iv.iteration_duration.get_min_value() == 1000
    assert 5990 <= iv.iteration_duration.get_max_value() <= 6010
    assert iv.buckets[("a", None)].duration.get_max_value() < 2010  # the request's own


def test_model_memory_is_bounded_by_downsampling_the_timeline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("engine.load.model.MAX_ROWS", 360)  # the rule, at a tenth of the size
    model = RunModel((parse_threshold("http_req_duration", "p(95)<5 over 3s"),))
    for i in range(500):
        rec = Recorder(separate_latency=False, start=float(i))
        rec.record("a", None, 1000, 1000, 200, False, 1, 1)
        model.add(rec.harvest(float(i + 1), vus=1, vus_max=1, target=1))
    assert len(model.timeline) <= 360
    assert sum(r.requests for r in model.timeline) == 500
    assert len(model._recent) <= 4  # only the window's intervals are kept


def test_window_threshold_fails_on_a_sustained_breach_and_stays_failed() -> None:
    th = parse_threshold("http_req_duration", "p(95)<10 over 3s")
    model = RunModel((th,))
    lat_ms = [1, 1, 1, 50, 50, 50, 1, 1, 1, 1]
    verdicts = []
    for i, ms in enumerate(lat_ms):
        rec = Recorder(separate_latency=False, start=float(i))
        for _ in range(10):
            rec.record("a", None, ms * 1000, ms * 1000, 200, False, 1, 1)
        model.add(rec.harvest(float(i + 1), vus=1, vus_max=1, target=1))
        verdicts.append(model.evaluate()[0].ok)
    # Windows of 3 s: the first full window holds; the breach fails it, and it stays failed.
    assert verdicts[:3] == [True, True, True]
    assert verdicts[3] is False
    assert not any(verdicts[3:])
    assert model.evaluate(final=True)[0].ok is False


def test_cumulative_threshold_can_recover() -> None:
    model = RunModel((parse_threshold("http_req_failed", "rate<0.5"),))
    for i, failed in enumerate((True, False, False)):
        rec = Recorder(separate_latency=False, start=float(i))
        rec.record("a", None, 10, 10, 500 if failed else 200, failed, 1, 1)
        model.add(rec.harvest(float(i + 1), vus=1, vus_max=1, target=1))
        model.evaluate()
    assert model.evaluate(final=True)[0].ok


def test_histogram_range_covers_an_hour() -> None:
    h = new_histogram()
    h.record_value(3_600_000_000)
    assert h.get_max_value() >= 3_599_000_000


def test_a_workers_later_interval_extends_its_counts_but_not_its_vus() -> None:
    """A process worker's harvest and its final report arrive together: its VUs are
    one worker's, not two (summing them gave vus_max 10 for k6's 6 on three workers)."""
    first = Interval(0.0, 1.0, iterations=3, vus=2, vus_max=2)
    first.lanes = {"buy": Interval(0.0, 1.0, iterations=3, vus=2, vus_max=2)}
    later = Interval(1.0, 1.5, iterations=1, vus=1, vus_max=1)
    later.lanes = {
        "buy": Interval(1.0, 1.5, iterations=1, vus=1, vus_max=1),
        "admin": Interval(1.0, 1.5, iterations=2, vus=1, vus_max=1),
    }
    first.extend(later)
    assert (first.iterations, first.vus, first.vus_max, first.end) == (4, 1, 2, 1.5)
    buy, admin = first.lanes["buy"], first.lanes["admin"]
    assert (buy.iterations, buy.vus, buy.vus_max) == (4, 1, 2)
    assert (admin.iterations, admin.vus, admin.vus_max) == (2, 1, 1)


@pytest.mark.parametrize("floor", [1, 0])
def test_a_fold_counts_as_record_value_per_value_does(floor: int) -> None:
    """The fold writes hdrh's counts itself (record_value is ~2.3 us a call): the same
    counts, total, min and max, the floor applied, and a value past an hour dropped."""
    from array import array

    from engine.load.metrics import _fold

    rng = random.Random(7)
    batches = [
        [rng.choice((-5, 0, 1, 2047, 2048, 2049)) for _ in range(50)],
        [rng.randint(-10, 5000) for _ in range(3000)],
        [rng.randint(1, 4_000_000_000) for _ in range(500)],  # some past the range
        [rng.randint(1000, 1_000_000) for _ in range(2000)],
    ]
    fast, slow = new_histogram(), new_histogram()
    for values in batches:
        _fold(fast, array("q", values), floor)
        for v in values:
            slow.record_value(max(v, floor))
        assert list(fast.counts) == list(slow.counts)
        assert (fast.total_count, fast.min_value, fast.max_value) == (
            slow.total_count,
            slow.min_value,
            slow.max_value,
        )


def test_an_error_named_without_a_request_is_counted_in_its_step() -> None:
    """A flow step whose request cannot be built (a bad value) is named, never sent."""
    rec = Recorder(separate_latency=False)
    rec.count_error("login", None, "bad request: user")
    b = rec.harvest(1.0, vus=1, vus_max=1, target=1).buckets[("login", None)]
    assert (b.requests, b.errors) == (0, {"bad request: user": 1})


def test_a_hot_loops_sink_outlives_folds_and_harvests() -> None:
    """The closed model's streaming path appends to its step's sink directly, bound
    once per VU: what it appends after folds and harvests is still counted."""
    rec = Recorder(separate_latency=False, one_request=True)
    sink = rec.sink("a")
    durations, statuses = sink.ok.append, sink.status.append
    sending, waiting, receiving = rec.exchanges()
    totals = []
    for n in (3, 5):
        rec.record("a", None, 2000, 2000, 200, False, 10, 0)  # the same step, the other way
        for _ in range(n):
            durations(1000)
            statuses(200)
            sink.bytes_in += 10
            sending(1), waiting(990), receiving(9)
        rec.fold()
        iv = rec.harvest(1.0, vus=1, vus_max=1, target=1)
        b = iv.buckets[("a", None)]
        totals.append((b.requests, b.status, b.bytes_in, iv.iterations))
        assert iv.phases["http_req_connecting"].get_total_count() == n  # reused: zeros
    assert totals == [(4, {200: 4}, 40, 4), (6, {200: 6}, 60, 6)]


def test_an_upstream_tag_selects_its_cohorts_answers_too() -> None:
    """A route's answers are tagged `green+beta` (engine.deploy.strategies.traffic):
    `{upstream:green}` counts them as green's, `{upstream:green+beta}` alone."""
    from engine.load.model import _matches

    assert _matches(("GET /", "green+beta"), (("upstream", "green"),))
    assert _matches(("GET /", "green+beta"), (("upstream", "green+beta"),))
    assert not _matches(("GET /", "green"), (("upstream", "green+beta"),))
    assert not _matches(("GET /", "blue"), (("upstream", "green"),))
    assert not _matches(("GET /", None), (("upstream", "green"),))
