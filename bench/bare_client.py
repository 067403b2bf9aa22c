"""The floor under Surge's hot path: the least a uvloop + httptools client can do.

    python bench/bare_client.py URL [--connections 50] [--duration 5] [--record]

One asyncio.Protocol per connection, one request in flight on each, responses
parsed by httptools: per request a future, a write, a parse and a counter (with
--record, also one HDR `record_value`, as Surge needs at least). No checks, no
timeline, no report. Prints `requests/s: N` and nothing else on stdout.
throughput.py runs it as a reference row: the gap between this and Surge is what
Surge's own code costs per request on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from time import perf_counter
from urllib.parse import urlsplit

import httptools
import uvloop


class Conn(asyncio.Protocol):
    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.fut: asyncio.Future[None] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_message_complete(self) -> None:
        fut, self.fut = self.fut, None
        if fut is not None and not fut.done():
            fut.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.fut is not None and not self.fut.done():
            self.fut.set_exception(exc or ConnectionResetError())


async def run(url: str, connections: int, duration: float, record: bool) -> float:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path or "/"
    request = f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode()
    loop = asyncio.get_running_loop()
    hist = None
    if record:
        from hdrh.histogram import HdrHistogram

        hist = HdrHistogram(1, 3_600_000_000, 3)
    count = 0
    stop = False

    async def user() -> None:
        nonlocal count
        _, conn = await loop.create_connection(Conn, host, port)
        write = conn.transport.write
        while not stop:
            fut = loop.create_future()
            conn.fut = fut
            t0 = perf_counter()
            write(request)
            await fut
            if hist is not None:
                hist.record_value(int((perf_counter() - t0) * 1e6) or 1)
            count += 1
        conn.transport.close()

    tasks = [asyncio.create_task(user()) for _ in range(connections)]
    await asyncio.sleep(0.2)  # connections up
    start_count, start = count, perf_counter()
    await asyncio.sleep(duration)
    done, elapsed = count - start_count, perf_counter() - start
    stop = True
    await asyncio.gather(*tasks, return_exceptions=True)
    return done / elapsed


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("url")
    p.add_argument("--connections", type=int, default=50)
    p.add_argument("--duration", type=float, default=5)
    p.add_argument("--record", action="store_true", help="one HDR record_value per request")
    args = p.parse_args()
    rps = uvloop.run(run(args.url, args.connections, args.duration, args.record))
    print(f"requests/s: {rps:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
