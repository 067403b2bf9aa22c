"""A smoke run: requests to green through the proxy's header override, before green takes traffic.

A Switch with `smoke` cannot be judged on the load test's traffic: blue has all the
weight, so green serves nothing. While a decision says `smoke`, the deploy driver keeps
a `SmokeRun` going, which sends its own requests through the proxy with
`x-surge-color: green` at a small fixed rate, and green's entry in the window the
strategy judges is those requests' figures.

`python -m engine.deploy.smoke` is the sender process (see SmokeRun for why a process).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from time import monotonic, perf_counter
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx

from engine.deploy.marks import Mark, nonzero_counts
from engine.deploy.strategies import ColorFigures
from engine.load.metrics import new_histogram

if TYPE_CHECKING:
    from engine.profile import Profile

__all__ = ["SMOKE_IN_FLIGHT", "SmokeRun", "SmokeTarget"]

# A smoke run is a probe, not load: enough requests for an analysis's min_requests within
# a window of seconds, few enough that a production green does not notice them.
SMOKE_RATE = 20.0  # requests per second
SMOKE_TIMEOUT_S = 5.0
SMOKE_IN_FLIGHT = 10  # a slow green gets no more than this many requests at once
SMOKE_MAX_REQUESTS = 2_000  # per window, whatever the window's length
SMOKE_IDLE_S = 3.0  # the sender stops this long after the driver last said "smoke"
SMOKE_HEADER = "x-surge-color"
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class SmokeTarget:
    """Where a smoke run sends its requests: a URL on the proxy's public side.

    Only GET: a smoke run repeats its request dozens of times against what may be
    production, so it must not create or change anything.
    """

    url: str
    headers: tuple[tuple[str, str], ...] = ()
    rate: float = SMOKE_RATE
    timeout: float = SMOKE_TIMEOUT_S
    max_requests: int = SMOKE_MAX_REQUESTS

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"smoke URL must be http(s)://HOST[:PORT]/PATH, got {self.url!r}")
        if not (math.isfinite(self.rate) and self.rate > 0):
            raise ValueError(f"smoke rate must be > 0 requests/s, got {self.rate!r}")
        if self.max_requests < 1:
            raise ValueError(f"smoke max_requests must be >= 1, got {self.max_requests!r}")

    @classmethod
    def for_profile(cls, profile: Profile, proxy_url: str) -> SmokeTarget:
        """The profile's first GET request (endpoint, or fixed scenario step), else "/".

        The base URL's path prefix is kept and its origin replaced by the proxy's, so
        the smoke request is one the load test itself sends, routed to green.
        """
        path, headers = "/", profile.headers
        gets = [e for e in profile.endpoints if e.method == "GET"]
        steps = profile.scenario.steps if profile.scenario is not None else ()
        fixed = [st for st in steps if st.method == "GET" and st.path.static]
        if gets:
            path, headers = gets[0].path, _merged(profile.headers, gets[0].headers)
        elif fixed:
            path = fixed[0].path.parts[0]
        if path.startswith(("http://", "https://")):  # an absolute step URL: not behind the proxy
            path = "/"
        prefix = urlsplit(profile.base_url).path.rstrip("/")
        return cls(proxy_url.rstrip("/") + prefix + "/" + path.lstrip("/"), headers)


def _merged(
    base: Iterable[tuple[str, str]], over: Iterable[tuple[str, str]]
) -> tuple[tuple[str, str], ...]:
    """Headers with `over` replacing `base` by case-insensitive name."""
    out = {name.lower(): (name, value) for name, value in base}
    out.update((name.lower(), (name, value)) for name, value in over)
    return tuple(out.values())


class SmokeRun:
    """Requests to green through the proxy's header override, at a fixed rate, in the background.

    The requests go from a process of their own (`python -m engine.deploy.smoke`, the
    sender), because their latency is what the analysis judges. Measured in `surge demo`
    against a 5 ms green (2 cores): timed on the app's event loop, which stalls while it
    draws, p99 was 260-360 ms and the smoke rolled a good green back; timed in a thread
    of the app's process, 28-36 ms (the GIL); from the sender, 13-18 ms. The load
    test's workers are processes for the same reason.

    The sender paces its requests open-model (one every 1/rate s, at most
    SMOKE_IN_FLIGHT at once), so a slow green shows as a high p99 rather than as fewer
    requests; one warm-up request before them is not counted. Any status >= 400, a
    timeout or a refused connection is a failed request, never an exception: a broken
    green is what the smoke run is there to find.

    Its stdin is a heartbeat: `keep_alive` writes a line, and the sender stops
    SMOKE_IDLE_S after the last one or at once when stdin closes (`stop`, or this
    process dying), so no sender outlives the rollout that wanted it, even in the app,
    which has no teardown hook for a driver. Its stdout is one line per request,
    stamped with the time it was sent, so a window counts exactly the requests sent in it.
    """

    def __init__(self, target: SmokeTarget) -> None:
        self.target = target
        self.upstreams: Counter[str] = Counter()  # who answered, over the whole smoke run
        self.last_failure: str | None = None
        self.error: str | None = None  # the sender itself failed
        self._lock = threading.Lock()
        self._histogram = new_histogram()
        self._requests = 0
        self._failed = 0
        self._window_start = 0.0  # time.monotonic(), which is the same clock in the sender
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def figures(self) -> ColorFigures:
        """The current window's figures, as the analysis reads them."""
        return self.window_mark().figures()

    def window_mark(self) -> Mark:
        """The current window as a Mark (its percentiles go into the report's step rows)."""
        with self._lock:
            return Mark(0.0, self._requests, self._failed, dict(nonzero_counts(self._histogram)))

    def new_window(self) -> None:
        with self._lock:
            self._window_start = monotonic()
            self._histogram.reset()
            self._requests = self._failed = 0
        self._tell("window")

    def keep_alive(self) -> None:
        """Start the sender if it is not going, and keep it going SMOKE_IDLE_S more."""
        if self.error is not None:
            return  # a sender that crashed would crash again, four times a second
        proc = self._proc
        if proc is None or proc.poll() is not None or proc.stdin is None or proc.stdin.closed:
            self._spawn()  # a stopped sender may still be finishing: it ends by itself
        self._tell("alive")

    def stop(self) -> None:
        """Close the sender's stdin: it cancels its requests in flight and exits."""
        proc = self._proc
        if proc is not None and proc.stdin is not None and not proc.stdin.closed:
            with contextlib.suppress(OSError):
                proc.stdin.close()

    async def aclose(self) -> None:
        self.stop()
        proc, reader = self._proc, self._reader
        if proc is not None:
            try:
                await asyncio.to_thread(proc.wait, SMOKE_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait)
        if reader is not None:
            await asyncio.to_thread(reader.join)

    def _spawn(self) -> None:
        t = self.target
        config = {
            "url": t.url,
            "headers": list(t.headers),  # on stdin, not argv: headers may hold credentials
            "rate": t.rate,
            "timeout": t.timeout,
            "max_requests": t.max_requests,
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine.deploy.smoke"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self._proc = proc
        self._reader = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._reader.start()
        self._tell(json.dumps(config))

    def _tell(self, line: str) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdin.closed:
            return
        try:
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
        except (OSError, ValueError):  # it exited (the reader says why) or was stopped
            pass

    def _read(self, proc: subprocess.Popen[str]) -> None:
        """The sender's lines, until it exits: `SENT_AT STATUS MICROS UPSTREAM [FAILURE]`."""
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                sent_at, status, micros, upstream, *failure = line.rstrip("\n").split(" ", 4)
                result = (float(sent_at), int(status), int(micros), upstream, " ".join(failure))
            except ValueError:
                continue  # not one of its lines (a library printing): not a request either
            self._record(*result)
        proc.stdout.close()
        code = proc.wait()
        if code != 0 and proc.stdin is not None and not proc.stdin.closed:
            self.error = f"smoke sender exited with code {code}"

    def _record(self, sent_at: float, status: int, micros: int, upstream: str, why: str) -> None:
        failed = status == 0 or status >= 400
        with self._lock:
            if status:
                self.upstreams[upstream] += 1
            if failed:
                self.last_failure = why or f"HTTP {status}"
            if sent_at < self._window_start:
                return  # sent in an earlier window
            self._requests += 1
            self._failed += int(failed)
            if status:
                self._histogram.record_value(micros)


class _Heartbeat:
    """The sender's view of its stdin: how long it may go on, and its window's count."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.deadline = monotonic() + SMOKE_IDLE_S
        self.sent = 0

    def listen(self) -> None:
        for line in sys.stdin:
            with self.lock:
                self.deadline = monotonic() + SMOKE_IDLE_S
                if line.strip() == "window":
                    self.sent = 0
        with self.lock:
            self.deadline = 0.0  # stdin closed: stop now

    def may_send(self, limit: int, room: bool) -> bool | None:
        """True: send one; False: not now (no `room` in flight, or the limit); None: stop."""
        with self.lock:
            if monotonic() >= self.deadline:
                return None
            if not room or self.sent >= limit:
                return False
            self.sent += 1
            return True


async def _smoke_send(target: SmokeTarget, beat: _Heartbeat) -> None:
    """The sender's loop: open-model pacing, each answer one line on stdout."""
    loop = asyncio.get_running_loop()
    gap = 1.0 / target.rate
    in_flight: set[asyncio.Task[None]] = set()
    client = httpx.AsyncClient(
        timeout=target.timeout,
        trust_env=False,  # a proxy from the environment would smoke something else
        headers=[*target.headers, (SMOKE_HEADER, "green")],
        limits=httpx.Limits(max_connections=SMOKE_IN_FLIGHT),
    )

    async def one() -> None:
        sent_at = monotonic()
        started = perf_counter()
        try:
            resp = await client.get(target.url)
        except Exception as exc:  # any way of not answering is a failed smoke request
            why = f"{type(exc).__name__}: {exc}".rstrip(": ").replace("\n", " ")
            print(f"{sent_at:.6f} 0 0 - {why}", flush=True)
            return
        micros = max(1, round((perf_counter() - started) * 1e6))
        upstream = resp.headers.get("x-surge-upstream", "untagged").replace(" ", "_")
        print(f"{sent_at:.6f} {resp.status_code} {micros} {upstream}", flush=True)

    try:
        # Unrecorded: a window's p99 is its slowest request or two, and the first one
        # pays for the connection and for httpx's first use (~40 ms against ~8 ms after).
        with contextlib.suppress(Exception):
            await client.get(target.url, timeout=min(target.timeout, 1.0))
        due = loop.time()
        while True:
            go = beat.may_send(target.max_requests, len(in_flight) < SMOKE_IN_FLIGHT)
            if go is None:
                break
            if go:
                job = loop.create_task(one())
                in_flight.add(job)
                job.add_done_callback(in_flight.discard)
            due = max(due + gap, loop.time())  # after a stall: no burst to catch up
            await asyncio.sleep(due - loop.time())
    finally:
        for job in in_flight:
            job.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)
        await client.aclose()


def smoke_main() -> int:
    """`python -m engine.deploy.smoke`: a SmokeRun's sender; its config is stdin's first line."""
    try:
        c = json.loads(sys.stdin.readline())
        target = SmokeTarget(
            c["url"],
            tuple((str(k), str(v)) for k, v in c["headers"]),
            float(c["rate"]),
            float(c["timeout"]),
            int(c["max_requests"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        print(f"bad smoke config: {exc}", file=sys.stderr)
        return 2
    beat = _Heartbeat()
    threading.Thread(target=beat.listen, daemon=True).start()
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):
        asyncio.run(_smoke_send(target, beat))
    return 0


if __name__ == "__main__":
    sys.exit(smoke_main())
