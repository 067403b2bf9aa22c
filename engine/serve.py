"""Running a Surge server (the demo SUT, the proxy) as a process of its own.

One event loop choice (uvloop where it exists), SIGINT/SIGTERM for a clean exit 0,
and exactly one stdout line once bound, which tests and `surge demo` read instead
of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable
from typing import Protocol, TypeVar


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where installed: it doubles the rate of a Protocol-based client."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows, or uvloop not installed
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class Server(Protocol):
    async def start(self) -> None: ...
    async def close(self) -> None: ...


S = TypeVar("S", bound=Server)


async def _serve(server: S, name: str, announce: Callable[[S], str]) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await server.start()
    except OSError as exc:
        print(f"{name}: cannot listen: {exc}", file=sys.stderr)
        return 1
    print(announce(server), flush=True)
    try:
        await stop.wait()
    finally:
        await server.close()
    return 0


def serve_forever(server: S, name: str, announce: Callable[[S], str]) -> int:
    """Run until SIGINT/SIGTERM (exit 0), or 1 with one line when it cannot bind."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        try:
            return runner.run(_serve(server, name, announce))
        except KeyboardInterrupt:  # signal handlers unavailable (e.g. Windows)
            return 0
