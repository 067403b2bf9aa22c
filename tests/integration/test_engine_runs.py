"""The engine against real servers on 127.0.0.1: executors, honest latency, errors, commands.

Every run is a few seconds at most and targets only loopback servers started here.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from dataclasses import replace

import pytest

from engine.load.controller import Controller
from engine.load.run import RunResult, Snapshot
from engine.load.stages import Stage
from engine.load.thresholds import parse_cli_threshold, parse_thresholds
from engine.profile import adhoc_profile
from engine.profile.plan import Overrides, build_plan


def plan_for(url: str, **kw: object):
    thresholds = tuple(parse_cli_threshold(t) for t in kw.pop("thresholds", ()))  # type: ignore[union-attr]
    interval = kw.pop("interval", 0.5)
    client = kw.pop("client", None)
    return build_plan(
        adhoc_profile(url),
        Overrides(thresholds=thresholds, client=client, **kw),  # type: ignore[arg-type]
        interval=interval,  # type: ignore[arg-type]
    )


async def run(plan, on_snapshot: Callable[[Snapshot], None] | None = None) -> RunResult:
    return await asyncio.wait_for(Controller(plan, on_snapshot).run(), 30)


async def test_latency_of_a_20ms_server_reads_20_to_22ms(sut) -> None:
    url = sut("--latency", "20ms")
    result = await run(plan_for(url + "/", vus=5, duration=2.0))
    lat = result.model.figures().latency
    assert result.model.figures().requests > 200
    assert 20.0 <= lat.p50 <= 22.0, lat


@pytest.mark.serial
async def test_frozen_server_latency_is_measured_from_the_due_time(sut) -> None:
    """DESIGN's coordinated-omission case: 0.5 s freeze every 2 s, 100 req/s, 10 VUs at most."""
    url = sut("--stall", "0.5s/2s")
    plan = plan_for(
        url + "/",
        executor="constant-arrival-rate",
        rate=100.0,
        duration=4.0,
        vus=10,
        max_vus=10,
        queue=True,
    )
    result = await run(plan)
    f = result.model.figures()
    assert f.requests == 401  # 0 s to 4 s inclusive, as k6 schedules it
    assert result.model.total.dropped == 0
    assert 250 <= f.latency.p90 <= 350, f.latency
    assert 430 <= f.latency.p99 <= 520, f.latency
    assert f.duration.p50 < 5, f.duration
    # The same run without correction would hide the freeze: http_req_duration p90 stays small.
    assert f.duration.p90 < 50, f.duration


async def test_open_model_drops_what_finds_no_free_vu_as_k6_does(sut) -> None:
    """The same frozen server without `queue`: the due iterations that find all 10 VUs
    stuck in the freeze are dropped then, in the interval where they were due."""
    url = sut("--stall", "0.5s/2s")
    plan = plan_for(
        url + "/", executor="constant-arrival-rate", rate=100.0, duration=4.0, vus=10, max_vus=10
    )
    result = await run(plan)
    total, f = result.model.total, result.model.figures()
    assert f.requests + total.dropped == 401
    assert 60 <= total.dropped <= 90, total.dropped  # 2 freezes x (50 due - 10 VUs) ~ 80
    # Nothing waited: latency is the service time, the freeze at most.
    assert f.latency.max < 600 and f.latency.p99 == pytest.approx(f.duration.p99, rel=0.05)
    # Drops land in the intervals of the freezes (0-0.5 s and 2-2.5 s), not at the end.
    by_row = [r.dropped for r in result.model.timeline]
    assert by_row[0] > 20 and by_row[-1] < 5, by_row


async def test_exact_error_counts_from_a_server_failing_a_known_fraction(sut) -> None:
    url = sut("--error-rate", "0.1")
    plan = plan_for(url + "/", executor="shared-iterations", iterations=1000, vus=10)
    result = await run(plan)
    f = result.model.figures()
    assert f.requests == 1000
    assert f.failed == 100
    assert f.status == {200: 900, 500: 100}
    assert f.errors == {"http 5xx": 100}
    assert result.model.total.iterations == 1000


async def test_unreachable_target_counts_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens
    plan = plan_for(
        f"http://127.0.0.1:{port}/",
        executor="shared-iterations",
        iterations=50,
        vus=2,
        thresholds=["http_req_failed:rate<0.01"],
    )
    result = await run(plan)
    f = result.model.figures()
    assert f.requests == 50
    assert f.errors == {"connection refused": 50}
    assert result.exit_code == 99


@pytest.mark.parametrize(
    ("overrides", "requests"),
    [
        ({"executor": "shared-iterations", "iterations": 37, "vus": 4}, 37),
        ({"executor": "per-vu-iterations", "iterations": 6, "vus": 5}, 30),
        # 0 s to 1 s inclusive, as k6 schedules it (its 50/s for 5 s runs 251).
        ({"executor": "constant-arrival-rate", "rate": 200.0, "duration": 1.0}, 201),
        # 0 -> 200/s over 1 s then 200/s for 0.5025 s: 100 + 100.5 accrued, and as in
        # k6 an iteration starts each time a whole one has accrued: 200.
        (
            {
                "executor": "ramping-arrival-rate",
                "rate": 1.0,
                "stages": (Stage(1.0, 200), Stage(0.5025, 200)),
            },
            200,
        ),
    ],
)
async def test_executors_run_exactly_the_iterations_they_promise(
    shared_sut: str, overrides: dict, requests: int
) -> None:
    result = await run(plan_for(shared_sut + "/", **overrides))
    assert result.model.figures().requests == requests
    assert result.model.total.iterations == requests
    assert result.model.total.dropped == 0


@pytest.mark.parametrize(
    ("executor", "vus", "iterations", "total"),
    [("shared-iterations", 4, 1000, 1000), ("per-vu-iterations", 2, 100, 200)],
)
async def test_iterations_max_duration_left_unstarted_are_dropped(
    sut, executor: str, vus: int, iterations: int, total: int
) -> None:
    url = sut("--latency", "50ms")
    plan = plan_for(url + "/", vus=vus, iterations=iterations)
    cfg = replace(plan.work.only.executor, executor=executor, max_duration=0.5)
    plan = replace(plan, work=plan.work.with_only(executor=cfg))
    result = await run(plan)
    t = result.model.total
    assert t.iterations + t.dropped + t.interrupted == total  # k6: done + dropped = budget
    assert t.iterations <= vus * 11  # ~10 of 50 ms each per VU in 0.5 s
    assert t.dropped >= total - vus * 11


async def test_constant_vus_keeps_its_vus_for_its_duration(shared_sut: str) -> None:
    result = await run(plan_for(shared_sut + "/", vus=7, duration=1.5))
    assert 1.5 <= result.duration < 2.5
    assert {r.vus for r in result.model.timeline[:-1]} == {7}


async def test_ramping_vus_follows_its_stages(shared_sut: str) -> None:
    plan = plan_for(shared_sut + "/", stages=(Stage(1.0, 8), Stage(1.0, 8), Stage(0.5, 0)))
    seen: list[int] = []
    result = await run(plan, lambda s: seen.append(s.row.vus))
    assert max(seen) == 8
    assert result.model.timeline[0].vus < 8  # still ramping at the first interval
    assert result.model.figures().requests > 100


async def test_open_model_drops_only_what_still_waits_at_the_end(sut) -> None:
    url = sut("--latency", "200ms")
    plan = plan_for(
        url + "/",
        executor="constant-arrival-rate",
        rate=20.0,
        duration=1.0,
        vus=1,
        max_vus=1,
        queue=True,
    )
    result = await run(plan)
    total = result.model.total
    # One VU at 200 ms serves 5 of the 21 due in the second (a 6th if it frees itself at
    # the very end); the others wait and are dropped.
    assert total.iterations in (5, 6)
    assert total.iterations + total.dropped == 21
    # The backlog's wait counts in latency: the 5th request was due at 0.2 s and done at 1.0 s.
    assert result.model.figures().latency.max >= 700


async def test_graceful_stop_interrupts_what_outlives_it(sut) -> None:
    url = sut("--latency", "5s")
    plan = plan_for(url + "/", vus=3, duration=0.3)
    executor = replace(plan.work.only.executor, graceful_stop=0.3)
    plan = replace(plan, work=plan.work.with_only(executor=executor))
    result = await run(plan)
    assert result.duration < 2.0
    assert result.model.total.interrupted == 3
    assert result.model.figures().requests == 0


async def test_pause_resume_and_scale_take_effect(shared_sut: str) -> None:
    plan = plan_for(shared_sut + "/", executor="constant-arrival-rate", rate=100.0, duration=3.0)
    controller = Controller(plan)
    task = asyncio.create_task(controller.run())
    rows: list[Snapshot] = []
    controller.on_snapshot = rows.append
    while len(rows) < 2:
        await asyncio.sleep(0.05)
    controller.pause()
    n = len(rows)
    while len(rows) < n + 2:
        await asyncio.sleep(0.05)
    paused_rows = rows[n + 1 :]
    controller.resume()
    controller.set_scale(2.0)
    result = await asyncio.wait_for(task, 20)
    assert all(r.row.requests == 0 for r in paused_rows)
    # Paused time does not count against the schedule: all 300 base iterations... and the
    # rescaled remainder runs at 200/s, so more than 300 in all.
    assert result.model.figures().requests > 300
    assert result.duration > 3.5


async def test_abort_on_fail_stops_the_run_early(sut) -> None:
    url = sut("--latency", "20ms")
    plan = plan_for(url + "/", vus=2, duration=10.0)
    th = parse_thresholds({"http_req_duration": [{"threshold": "p(95)<5", "abortOnFail": True}]})
    plan = replace(plan, thresholds=tuple(th))
    result = await run(plan)
    assert result.duration < 3
    assert result.exit_code == 99
    assert "abortOnFail" in str(result.stop_reason)


async def test_responses_are_kept_per_upstream(sut) -> None:
    url = sut("--color", "blue")
    result = await run(plan_for(url + "/", executor="shared-iterations", iterations=20))
    assert result.model.upstreams() == ["blue"]
    assert result.model.figures((("upstream", "blue"),)).requests == 20


async def test_the_httpx_client_returns_the_same_figures(shared_sut: str) -> None:
    plan = plan_for(shared_sut + "/", executor="shared-iterations", iterations=30, client="httpx")
    result = await run(plan)
    assert result.model.figures().status == {200: 30}


async def test_breakpoint_stops_at_the_first_failing_threshold(shared_sut: str) -> None:
    plan = plan_for(
        shared_sut + "/",
        test_type="breakpoint",
        rate=50.0,
        time_scale=0.001,  # 0.1x -> 10x of 50/s over 7.2 s
        thresholds=["http_reqs:count<300"],
    )
    result = await run(plan)
    assert result.duration < 6.0
    assert result.breaking_point_rps is not None
    assert 0 < result.breaking_point_rps < 500
    assert "breaking point" in str(result.stop_reason)


@pytest.fixture
def tls_sut(sut, tmp_path):
    """A demo server speaking HTTPS with a certificate from a throwaway CA."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    chain, key = tmp_path / "chain.pem", tmp_path / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(chain))
    cert.private_key_pem.write_to_path(str(key))
    return sut("--tls-cert", str(chain), "--tls-key", str(key))


@pytest.mark.parametrize("client", ["wire", "httpx"])
async def test_https_with_and_without_verification(tls_sut: str, client: str) -> None:
    assert tls_sut.startswith("https://")
    profile = replace(adhoc_profile(tls_sut + "/"), insecure=True)
    plan = build_plan(profile, Overrides(iterations=20, vus=2, client=client), interval=0.5)
    ok = await run(plan)
    assert ok.model.figures().status == {200: 20}
    # Verification on (the default): the unknown CA is a counted TLS error, not a crash.
    plan = build_plan(
        adhoc_profile(tls_sut + "/"), Overrides(iterations=4, vus=1, client=client), interval=0.5
    )
    refused = await run(plan)
    assert refused.model.figures().errors == {"tls": 4}


async def test_requests_over_the_timeout_are_counted_as_timeouts(sut) -> None:
    url = sut("--latency", "2s")
    profile = replace(adhoc_profile(url + "/"), timeout=0.3)
    plan = build_plan(profile, Overrides(iterations=4, vus=2), interval=0.5)
    result = await run(plan)
    assert result.model.figures().errors == {"timeout": 4}
    assert result.duration < 1.5  # two rounds of 0.3 s, not of 2 s
    assert 300 <= result.model.figures().latency.p50 <= 450


async def test_a_server_closing_every_connection_is_reconnected_to(shared_sut: str) -> None:
    profile = replace(adhoc_profile(shared_sut + "/"), headers=(("Connection", "close"),))
    plan = build_plan(profile, Overrides(iterations=50, vus=2), interval=0.5)
    result = await run(plan)
    assert result.model.figures().status == {200: 50}


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (ConnectionRefusedError(), "connection refused"),
        (ConnectionResetError(), "connection reset"),
        (BrokenPipeError(), "connection reset"),
        (TimeoutError(), "timeout"),
        (socket.gaierror(-2, "Name or service not known"), "dns"),
        (__import__("ssl").SSLCertVerificationError(), "tls"),
        (OSError(101, "Network is unreachable"), "network"),
    ],
)
def test_error_kinds_are_named(exc: BaseException, kind: str) -> None:
    from engine.errors import classify

    assert classify(exc) == kind


def test_the_backlog_is_bounded() -> None:
    """An overloaded open-model run drops the oldest waiting iteration past the bound."""
    plan = plan_for(
        "http://127.0.0.1:9/",
        executor="constant-arrival-rate",
        rate=100.0,
        duration=1.0,
        vus=1,
        max_vus=1,
        queue=True,
    )
    from engine.load.worker import Worker

    worker = Worker(plan.work)
    worker._vus = [object()] * 1  # type: ignore[list-item]  # every VU busy
    for k in range(worker._max_backlog + 5):
        worker._dispatch(float(k))
    assert len(worker._backlog) == worker._max_backlog == 1000
    assert worker._backlog[0] == 5.0
    assert worker.recorder.harvest(1.0, vus=0, vus_max=1, target=0).dropped == 5


class _DropsAfterThree(asyncio.Protocol):
    """Answers three requests per connection, then closes it without saying so first."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.answered = 0

    def data_received(self, data: bytes) -> None:
        for _ in range(data.count(b"\r\n\r\n")):
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")  # type: ignore[attr-defined]
            self.answered += 1
            if self.answered == 3:
                self.transport.close()
                return


async def test_a_keep_alive_connection_closed_between_requests_is_retried_not_failed() -> None:
    """A VU sends its next request from the callback that parsed the last response; when
    the server has closed that connection meanwhile, the request is retried once on a
    fresh one (no byte came back), so every iteration succeeds and none is counted twice."""
    server = await asyncio.get_running_loop().create_server(_DropsAfterThree, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await run(plan_for(f"http://127.0.0.1:{port}/", iterations=60, vus=2))
    finally:
        server.close()
    figures = result.model.figures()
    assert figures.status == {200: 60}
    assert figures.errors == {} and figures.failed == 0
    assert result.model.total.iterations == 60
