"""Listening sockets the proxy accepts on itself, so running out of descriptors is survivable.

Why not `loop.create_server`: when accept(2) fails with EMFILE, uvloop (libuv) accepts
and closes the waiting connections silently, and asyncio's own loop retries in a tight
loop, calling the exception handler thousands of times a second (measured: 65,000
calls and 26% of a core in 3 s). Neither says so once, neither makes room. Here the
failure is logged at most once a second, the proxy is asked to make room (it closes
clients with nothing in flight, slow heads first), and accepting resumes 50 ms later;
waiting connections stay in the kernel's backlog meanwhile instead of being dropped.
This costs a little per connection (a task for `connect_accepted_socket`), nothing
per request.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Acceptor", "listen"]

#: accept(2) failures that mean "out of resources", not "this connection went wrong".
EXHAUSTED = frozenset((errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM))
RETRY_S = 0.05
LOG_EVERY_S = 1.0
BATCH = 256


def listen(host: str, port: int, backlog: int = 4096) -> socket.socket:
    """A bound, listening, non-blocking TCP socket (SO_REUSEADDR, as create_server sets)."""
    family, kind, proto, _, addr = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(addr)
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class Acceptor:
    """Accepts connections on `sock` and hands each to `factory`'s protocol.

    `make_room()` is called when accept fails for lack of descriptors and returns how
    many connections it closed; `spawn` keeps the attach tasks owned by the proxy.
    """

    def __init__(
        self,
        sock: socket.socket,
        factory: Callable[[], asyncio.Protocol],
        *,
        spawn: Callable[[Any], object],
        make_room: Callable[[], int],
        name: str,
    ) -> None:
        self.sock = sock
        self.factory = factory
        self.spawn = spawn
        self.make_room = make_room
        self.name = name
        self.loop = asyncio.get_running_loop()
        self.closed = False
        self._unlogged = 0
        self._logged_at = -LOG_EVERY_S
        self._retry: asyncio.TimerHandle | None = None
        self.loop.add_reader(sock.fileno(), self._ready)

    def _ready(self) -> None:
        sock = self.sock
        for _ in range(BATCH):
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno in EXHAUSTED:
                    self._exhausted(exc)
                else:  # not seen in practice; never let one bad accept stop the listener
                    self._log(f"accept failed: {exc}")
                return
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.spawn(self._attach(conn))

    async def _attach(self, conn: socket.socket) -> None:
        try:
            await self.loop.connect_accepted_socket(self.factory, conn)
        except OSError:
            conn.close()
        except asyncio.CancelledError:  # the proxy closed before this one was attached
            conn.close()
            raise

    def _exhausted(self, exc: OSError) -> None:
        """Stop reading the listener for a moment (no spin), make room, say so once a second."""
        self._unlogged += 1
        freed = self.make_room()
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY_S:
            self._log(
                f"cannot accept: {exc.strerror} ({self._unlogged} times since the last "
                f"report); closed {freed} idle or slow clients, retrying every {RETRY_S}s"
            )
            self._logged_at = now
            self._unlogged = 0
        self.loop.remove_reader(self.sock.fileno())
        self._retry = self.loop.call_later(RETRY_S, self._resume)

    def _resume(self) -> None:
        self._retry = None
        if not self.closed:
            self.loop.add_reader(self.sock.fileno(), self._ready)
            self._ready()

    def _log(self, message: str) -> None:
        print(f"{self.name}: {message}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._retry is not None:
            self._retry.cancel()
        else:
            self.loop.remove_reader(self.sock.fileno())
        self.sock.close()
