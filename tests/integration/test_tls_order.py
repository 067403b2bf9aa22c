"""The TLS 1.2 order Surge offers: Go's (k6's), AES-128-GCM first, unless
SURGE_TLS_ORDER=openssl. Against a server that takes the client's order (nginx's
default, and this one), the order decides the cipher, and with it the server's cost."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator

import pytest

from engine.http import tls
from engine.http.tls import TlsOptions, client_context


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, int]]:
    """A TLS 1.2 server that follows the client's cipher order, on loopback."""
    import trustme

    ca = trustme.CA()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except OSError:
                return
            try:
                with ctx.wrap_socket(raw, server_side=True) as conn:
                    conn.recv(1)
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    address = listener.getsockname()[:2]
    yield address
    stop.set()
    socket.create_connection(address).close()  # wakes accept(): close() would not
    listener.close()
    thread.join(5)


def _cipher(address: tuple[str, int]) -> str:
    client_context.cache_clear()  # the order is read when a process makes its context
    ctx = client_context(TlsOptions(insecure=True))
    with ctx.wrap_socket(socket.create_connection(address, timeout=5)) as conn:
        name = conn.cipher()
    assert name is not None
    return name[0]


@pytest.mark.parametrize(("order", "want"), [(None, "AES128-GCM"), ("openssl", "AES256-GCM")])
def test_the_offered_order_picks_the_cipher(
    server: tuple[str, int], monkeypatch: pytest.MonkeyPatch, order: str | None, want: str
) -> None:
    if order is None:
        monkeypatch.delenv(tls.ORDER_ENV, raising=False)
    else:
        monkeypatch.setenv(tls.ORDER_ENV, order)
    try:
        assert want in _cipher(server)
    finally:
        client_context.cache_clear()
