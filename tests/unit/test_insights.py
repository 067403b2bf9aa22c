"""The findings as pure functions: synthetic timelines for each kind, and runs that
must produce none."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from engine.explore.insights import Evidence, Point, find
from engine.explore.model import CapacityStep, InsightKind
from engine.load.metrics import Bucket, Interval
from engine.load.model import MAX_ROWS, Row
from engine.observe.series import Series


def row(
    t: float,
    *,
    rps: float,
    p95: float = 2.0,
    target: float = 0.0,
    vus: int = 5,
    failed: int = 0,
    dropped: int = 0,
    iterations: int | None = None,
) -> Row:
    req = int(rps)
    return Row(
        t=t,
        dt=1.0,
        requests=req,
        failed=failed,
        rps=rps,
        error_rate=failed / req if req else 0.0,
        p50=p95 / 2,
        p90=p95,
        p95=p95,
        p99=p95 * 1.2,
        duration_p50=p95 / 2,
        duration_p99=p95 * 1.2,
        vus=vus,
        vus_max=max(vus, 100),
        target=target,
        iterations=req if iterations is None else iterations,
        dropped=dropped,
        bytes_in=0,
        bytes_out=0,
    )


def ramp_to_capacity(cap: float = 200.0, n: int = 12, step: float = 50.0) -> list[Point]:
    """An arrival rate ramping by `step`/s against a server that serves `cap`/s and
    queues the rest: latency and in-flight climb past it."""
    out = []
    backlog = 0.0
    for i in range(n):
        offered = step * (i + 1)
        served = min(offered, cap)
        backlog += offered - served
        p95 = 2.0 + 1000 * backlog / cap
        out.append(Point(row(i + 1, rps=served, p95=p95, target=offered, vus=int(3 + backlog))))
    return out


def steady(n: int = 10, rps: float = 100.0, **kw: float) -> list[Point]:
    return [Point(row(i + 1, rps=rps, target=rps, **kw)) for i in range(n)]  # type: ignore[arg-type]


def kinds(points: Sequence[Point], **kw: object) -> list[InsightKind]:
    return [f.kind for f in find(points, **kw)]  # type: ignore[arg-type]


def test_saturation_and_knee_at_the_servers_capacity() -> None:
    found = {f.kind: f for f in find(ramp_to_capacity(), open_model=True)}
    assert set(found) == {InsightKind.SATURATION, InsightKind.KNEE}
    sat = found[InsightKind.SATURATION]
    assert sat.rate == 200.0 and sat.at == 4.0  # the first offered rate that outran it
    assert "200 req/s" in sat.text
    assert found[InsightKind.KNEE].rate == 250.0  # the first rate latency stays up from


def test_saturation_of_a_closed_load_more_vus_same_throughput() -> None:
    pts = [
        Point(row(i + 1, rps=100 * min(i + 1, 4), p95=10 * max(i - 2, 1), vus=(i + 1) * 5))
        for i in range(10)
    ]
    found = {f.kind: f for f in find(pts, open_model=False)}
    assert InsightKind.SATURATION in found
    assert found[InsightKind.SATURATION].rate == 400.0  # the throughput it stopped at


@pytest.mark.parametrize(
    ("name", "points", "open_model"),
    [
        ("steady and healthy", steady(), True),
        (
            "a ramp the server keeps up with",
            [Point(row(i + 1, rps=50.0 * (i + 1), target=50.0 * (i + 1))) for i in range(10)],
            True,
        ),
        (
            "sub-millisecond jitter",
            [
                Point(row(i + 1, rps=100, target=100 + i, p95=0.3 + 0.2 * (i % 2)))
                for i in range(10)
            ],
            True,
        ),
        ("a constant closed load", steady(vus=20), False),
        ("no requests at all", [Point(row(i + 1, rps=0)) for i in range(5)], True),
        (
            "one stray error",
            [Point(row(i + 1, rps=100, target=100, failed=int(i == 4))) for i in range(10)],
            True,
        ),
        ("nothing", [], True),
    ],
)
def test_runs_that_must_find_nothing(name: str, points: list[Point], open_model: bool) -> None:
    assert find(points, open_model=open_model) == (), name


def test_errors_first_rise_and_their_kind() -> None:
    pts = steady(5)
    pts += [
        Point(row(6 + i, rps=100, target=100, failed=10), errors={"http 5xx": 9, "timeout": 1})
        for i in range(3)
    ]
    (f,) = find(pts, open_model=True)
    assert f.kind is InsightKind.ERRORS and f.at == 6.0 and f.rate == 100.0
    assert "10.0%" in f.text and "http 5xx (90%)" in f.text


def test_errors_from_the_start_are_a_rise() -> None:
    pts = [
        Point(row(i + 1, rps=100, target=100, failed=5), errors={"http 5xx": 5}) for i in range(5)
    ]
    assert [(f.kind, f.at) for f in find(pts, open_model=True)] == [(InsightKind.ERRORS, 1.0)]


def test_steady_errors_after_the_first_rise_are_not_a_new_one() -> None:
    """Once errors run at 5%, an interval at 5% is no rise; a jump to 30% would be, but
    only the first rise is the finding."""
    pts = [Point(row(i + 1, rps=100, target=100, failed=5)) for i in range(10)]
    found = find(pts, open_model=True)
    assert [f.at for f in found] == [1.0]


def test_generator_cpu_hot_for_two_intervals() -> None:
    pts = [Point(p.row, cpu=95.0 if p.row.t in (4, 5) else 40.0) for p in steady()]
    (f,) = find(pts, open_model=True)
    assert f.kind is InsightKind.GENERATOR and f.at == 5.0 and "95%" in f.text
    one_hot = [Point(p.row, cpu=99.0 if p.row.t == 4 else 40.0) for p in steady()]
    assert find(one_hot, open_model=True) == ()


def test_generator_drops() -> None:
    pts = steady(4) + [Point(row(5 + i, rps=80, target=100, dropped=20)) for i in range(3)]
    (f,) = find(pts, open_model=True)
    assert f.kind is InsightKind.GENERATOR and f.at == 5.0 and "60 iterations dropped" in f.text


def test_capacity_steps_knee_saturation_and_an_undriven_step() -> None:
    steps = [
        CapacityStep(rate=100, held=True, achieved_rate=100, p95=2, start=0, end=2),
        CapacityStep(rate=200, held=True, achieved_rate=200, p95=3, start=2, end=4),
        CapacityStep(rate=400, held=False, achieved_rate=300, p95=90, start=4, end=6),
        CapacityStep(rate=300, held=False, achieved_rate=290, p95=40, start=6, end=8),
        CapacityStep(rate=250, held=True, achieved_rate=250, p95=4, start=8, end=10),
        CapacityStep(rate=800, held=False, achieved_rate=300, generator_limited=True, start=10),
    ]
    found = {f.kind: f for f in find([], open_model=True, steps=steps)}
    assert set(found) == {InsightKind.SATURATION, InsightKind.KNEE, InsightKind.GENERATOR}
    assert found[InsightKind.KNEE].rate == 300
    assert found[InsightKind.SATURATION].rate == 300  # the ceiling no step got past
    assert found[InsightKind.SATURATION].at == 4  # first seen at 400/s, served 300/s
    assert found[InsightKind.GENERATOR].rate == 800


def latency_climbing(n: int = 10) -> list[Point]:
    return [Point(row(i + 1, rps=100, target=100, p95=2.0 + 3 * i)) for i in range(n)]


def test_server_cpu_at_its_limit_moving_with_latency() -> None:
    cpu = Series(
        "cpu",
        "http://127.0.0.1:9/metrics",
        "/s",
        tuple(range(1, 11)),
        tuple(0.1 * (i + 1) for i in range(10)),
    )
    found = find(latency_climbing(), open_model=True, observed={"cpu": cpu})
    (f,) = [f for f in found if f.kind is InsightKind.SERVER]
    assert f.at == 9 and "cpu at its limit" in f.text and "r=1.00" in f.text


def test_server_memory_climbing_through_a_soak() -> None:
    mem = Series(
        "memory", "sut", "bytes", tuple(range(1, 31)), tuple(50e6 + 2e6 * i for i in range(30))
    )
    (f,) = find(steady(30), open_model=True, observed={"memory": mem})
    assert f.kind is InsightKind.SERVER and "50 MB -> 108 MB" in f.text


def test_server_any_series_moving_with_latency() -> None:
    q = Series("sut_queue", "sut", "", tuple(range(1, 11)), tuple(float(i) for i in range(10)))
    found = [
        f
        for f in find(latency_climbing(), open_model=True, observed={"q": q})
        if f.kind is InsightKind.SERVER
    ]
    assert len(found) == 1 and "sut_queue moves with the latency" in found[0].text


def test_server_flat_or_unrelated_series_say_nothing() -> None:
    t = tuple(float(i) for i in range(1, 11))
    observed = {
        "cpu": Series("cpu", "sut", "/s", t, (0.2,) * 10),
        "memory": Series("memory", "sut", "bytes", t, (5e7, 6e7) * 5),  # a sawtooth: GC
        "noise": Series("noise", "sut", "", t, (1, 5, 2, 6, 1, 5, 2, 6, 1, 5)),
    }
    assert find(latency_climbing(), open_model=True, observed=observed) == ()


def test_host_series_judged_only_without_the_suts_own() -> None:
    t = tuple(float(i) for i in range(1, 11))
    host = Series(
        "node_cpu", "http://127.0.0.1:9100/metrics", "%", t, tuple(50.0 + 5 * i for i in range(10))
    )
    own = Series("cpu", "sut", "/s", t, (0.2,) * 10)
    alone = find(latency_climbing(), open_model=True, observed={"host_cpu": host})
    assert [f.kind for f in alone] == [InsightKind.SERVER]
    assert find(latency_climbing(), open_model=True, observed={"host_cpu": host, "cpu": own}) == ()


def test_evidence_stays_bounded_and_finds_the_same() -> None:
    ev = Evidence(open_model=True)
    for p in ramp_to_capacity():
        ev.add(p.row, Interval(p.row.t - 1, p.row.t), p.cpu)
    assert ev.find() == find(ramp_to_capacity(), open_model=True)
    iv = Interval(0, 1)
    iv.buckets[("GET /", None)] = Bucket()
    iv.buckets[("GET /", None)].errors["timeout"] = 1
    for i in range(MAX_ROWS + 5):
        ev.add(row(100 + i, rps=10, target=10), iv, 0.0)
    assert len(ev.points) <= MAX_ROWS
    assert sum(p.errors.get("timeout", 0) for p in ev.points) == MAX_ROWS + 5


def test_evidence_reads_the_series_of_its_source_when_given_none() -> None:
    ev = Evidence(open_model=True)
    for p in latency_climbing():
        ev.add(p.row, Interval(p.row.t - 1, p.row.t), 0.0)
    t = tuple(float(i) for i in range(1, 11))
    ev.series = lambda: {"cpu": Series("cpu", "sut", "%", t, tuple(10.0 * i for i in range(10)))}
    (f,) = ev.find(final=True)
    assert f.kind is InsightKind.SERVER and "cpu at its limit (90%)" in f.text
