"""The observer on its own against a small Prometheus text server on 127.0.0.1 that
goes down and comes back, and whose counter restarts: outages said with their span,
counters as rates that skip a reset."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from engine.explore.model import InsightKind
from engine.load.run import Snapshot
from engine.observe.config import ObserveSpec
from engine.observe.observer import Observer
from engine.observe.series import Series
from engine.profile.loader import adhoc_profile
from engine.profile.plan import Overrides, build_plan
from engine.run_session import RunSession

pytestmark = pytest.mark.timeout(20)


class Exporter:
    """`/metrics` with a counter the test sets; `down()` and `up()` on the same port."""

    def __init__(self) -> None:
        self.total = 0.0
        self.memory = 50e6  # process_resident_memory_bytes, grown by `leak` each scrape
        self.leak = 0.0
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self.up()

    def up(self) -> None:
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                exporter.memory += exporter.leak
                body = (
                    f"# TYPE jobs_total counter\njobs_total {exporter.total}\n"
                    f"# TYPE process_resident_memory_bytes gauge\n"
                    f"process_resident_memory_bytes {exporter.memory}\n"
                ).encode()
                self.send_response(200)
                self.send_header("content-type", "text/plain; version=0.0.4")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def down(self) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def exporter() -> Iterator[Exporter]:
    e = Exporter()
    yield e
    e.down()


def until(observer: Observer, ok: Callable[[dict[str, Series]], bool]) -> dict[str, Series]:
    """The observer's series once `ok` holds (its thread publishes after each sample)."""
    deadline = time.monotonic() + 5
    while not ok(series := dict(observer.series())):
        assert time.monotonic() < deadline, series
        time.sleep(0.01)
    return series


def test_an_outage_is_said_while_it_lasts_and_after(exporter: Exporter) -> None:
    url = f"http://127.0.0.1:{exporter.port}/metrics"
    observer = Observer(ObserveSpec(targets=(url,), metrics=("jobs",)), timeout=1.0)
    observer.start()  # 0 s: the counter's baseline
    try:
        until(observer, lambda s: "jobs" in s)  # the baseline read: no rate yet
        exporter.total = 50.0
        observer.sample(1.0)
        first = until(observer, lambda s: "jobs" in s and 1.0 in s["jobs"].times)["jobs"]
        assert first.unit == "/s" and first.values[0] > 0 and not first.problem
        exporter.down()
        observer.sample(2.0)
        down = until(observer, lambda s: bool(s["jobs"].problem))["jobs"]
        assert down.problem.endswith("down since 2s (Connection refused)")
        assert down.times == (1.0,)
        exporter.total = 10.0  # restarted: its counter began again
        exporter.up()
        observer.sample(3.0)
        back = until(observer, lambda s: "since" not in s["jobs"].problem)["jobs"]
        assert back.problem.endswith("down 2-3s (Connection refused)")
        assert back.times == (1.0,)  # a reset gives no rate: no made-up negative one
        exporter.total = 20.0
        observer.sample(4.0)
        after = until(observer, lambda s: 4.0 in s["jobs"].times)["jobs"]
        assert after.values[-1] > 0
    finally:
        observer.close()


def test_the_findings_read_the_observed_series(exporter: Exporter, shared_sut: str) -> None:
    """A server whose memory climbs 10 MB a scrape: the run session hands its observer's
    series to the findings, live and at the end (a SERVER insight names the memory)."""
    exporter.leak = 10e6
    plan = build_plan(adhoc_profile(f"{shared_sut}/"), Overrides(rate=20, duration=4))
    spec = ObserveSpec(targets=(f"http://127.0.0.1:{exporter.port}/metrics",))
    session = RunSession(replace(plan, observe=spec))
    live: list[Snapshot] = []
    session.observe(live.append)
    end = asyncio.run(session.run())
    said = [i.text for i in end.result.insights if i.kind is InsightKind.SERVER]
    assert any(t.startswith("memory climbs through the run") for t in said), said
    assert any(i.kind is InsightKind.SERVER for s in live for i in s.insights)
    assert "server" in {row["kind"] for row in end.report.table()["insights"]}
