"""Bytes as k6 counts them, in both clients, against a real loopback server that counts
every byte it reads and writes: `data_sent` is what went out (nothing when the connection
was refused), `data_received` is the head and the body as sent. Over TLS both clients
count the HTTP bytes inside the records (handshake and record overhead are not seen)."""

from __future__ import annotations

import asyncio
import socket
import ssl
import sys
from typing import Any

import pytest

from engine.http.request import prepare
from engine.http.tls import TlsOptions
from engine.load.controller import Controller
from engine.load.run import RunResult
from engine.profile import adhoc_profile
from engine.profile.plan import Overrides, build_plan

CLIENTS = ("wire", "httpx")
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\nx"


class Counting:
    """A keep-alive HTTP/1.1 server on 127.0.0.1 answering `response` to every request and
    counting the bytes it read and wrote (after TLS decryption when `ssl` is given)."""

    def __init__(
        self, response: bytes = RESPONSE, *, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.response = response
        self.ssl = ssl_context
        self.requests: list[bytes] = []  # each request as it came, head and body
        self.sent = 0
        self.url = ""
        self._server: asyncio.Server | None = None

    @property
    def received(self) -> int:
        return sum(len(r) for r in self.requests)

    async def __aenter__(self) -> Counting:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.ssl)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"{'https' if self.ssl else 'http'}://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        if sys.version_info >= (3, 12):
            self._server.close_clients()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length) if length else b""
                self.requests.append(head + body)
                writer.write(self.response)
                self.sent += len(self.response)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        except ssl.SSLError:
            pass  # a client the server refused at the handshake (tests of TLS options)
        finally:
            writer.close()


def make_client(kind: str, url: str, tls: TlsOptions | None = None) -> Any:
    if kind == "httpx":
        from engine.http.httpx_client import HttpxClient

        return HttpxClient(url, tls=tls, timeout=5.0)
    from engine.http.wire import WireClient

    return WireClient(url, tls=tls)


def refused_url() -> str:
    """A loopback port nobody listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def run(plan: Any) -> RunResult:
    return await asyncio.wait_for(Controller(plan).run(), 20)


# ------------------------------------------------------- each request, exactly


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize(
    ("method", "body"), [("GET", None), ("POST", b'{"k": "v"}')], ids=["get", "post"]
)
async def test_each_request_counts_exactly_what_went_out_and_came_in(
    client: str, method: str, body: bytes | None
) -> None:
    async with Counting() as srv:
        c = make_client(client, srv.url)
        req = prepare("x", method, srv.url + "/one-byte", (), body)
        for i in range(20):
            resp = await c.request(req)
            assert resp.status == 200
            assert c.bytes_in == len(RESPONSE)  # head included, not the body alone
            assert c.bytes_out == len(srv.requests[i])  # what httpx adds counted too
        c.close()
        await asyncio.sleep(0)
    assert len(srv.requests) == 20
    if client == "wire":
        assert srv.requests == [req.wire] * 20


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_refused_connection_sent_and_received_nothing(client: str) -> None:
    async with Counting() as srv:  # one good request first: counts must not linger
        c = make_client(client, srv.url)
        await c.request(prepare("x", "GET", srv.url + "/", (), None))
        assert c.bytes_out > 0
    url = refused_url()
    c = make_client(client, url)
    for _ in range(3):
        with pytest.raises(ConnectionRefusedError):
            await c.request(prepare("x", "GET", url + "/", (), None))
        assert (c.bytes_out, c.bytes_in) == (0, 0)
    c.close()


@pytest.mark.parametrize("client", CLIENTS)
async def test_bytes_before_a_failure_are_counted(client: str) -> None:
    partial = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly 13 bytes"

    class Cut(Counting):
        async def _handle(self, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            self.requests.append(await reader.readuntil(b"\r\n\r\n"))
            w.write(partial)
            await w.drain()
            w.close()  # the body ends 87 bytes short

    async with Cut() as srv:
        c = make_client(client, srv.url)
        with pytest.raises(ConnectionError):
            await c.request(prepare("x", "GET", srv.url + "/", (), None))
        assert c.bytes_in == len(partial)
        assert c.bytes_out == len(srv.requests[0])
        c.close()


@pytest.mark.parametrize("client", CLIENTS)
async def test_over_tls_the_http_bytes_inside_the_records_are_counted(
    client: str, tls_files: dict[str, Any]
) -> None:
    async with Counting(ssl_context=tls_files["server_ctx"]()) as srv:
        c = make_client(client, srv.url, TlsOptions(cacert=tls_files["ca"]))
        req = prepare("x", "GET", srv.url + "/", (), None)
        for i in range(5):
            await c.request(req)
            assert c.bytes_in == len(RESPONSE)
            assert c.bytes_out == len(srv.requests[i])
        c.close()
        await asyncio.sleep(0)


# ---------------------------------------------------------- through the engine


def _plan(url: str, client: str, n: int) -> Any:
    overrides = Overrides(iterations=n, vus=2, client=client, workers=1)
    return build_plan(adhoc_profile(url + "/one-byte"), overrides, interval=0.5)


@pytest.mark.parametrize("client", CLIENTS)
async def test_200_gets_of_a_1_byte_file_receive_heads_and_bodies(client: str) -> None:
    async with Counting() as srv:
        result = await run(_plan(srv.url, client, 200))
    f = result.model.figures()
    assert f.status == {200: 200}
    assert f.bytes_in == 200 * len(RESPONSE) == srv.sent  # 200 bodies of 1 byte: 12,800


@pytest.mark.parametrize("client", CLIENTS)
async def test_200_gets_send_what_the_server_read(client: str) -> None:
    async with Counting() as srv:
        result = await run(_plan(srv.url, client, 200))
    assert len(srv.requests) == 200
    assert result.model.figures().bytes_out == srv.received


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_refused_target_counts_no_data_sent(client: str) -> None:
    result = await run(_plan(refused_url(), client, 50))
    f = result.model.figures()
    assert f.errors == {"connection refused": 50}
    assert (f.bytes_out, f.bytes_in) == (0, 0)


# ---------------------------------------------------------------- certificates


@pytest.fixture
def tls_files(tmp_path: Any) -> dict[str, Any]:
    """A throwaway CA (trustme), a server certificate for 127.0.0.1 and a client one."""
    import trustme

    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("client@surge.test")
    paths = {
        "ca": tmp_path / "ca.pem",
        "cert": tmp_path / "client.crt",
        "key": tmp_path / "client.key",
        "both": tmp_path / "client-with-key.pem",
    }
    ca.cert_pem.write_to_path(str(paths["ca"]))
    client.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    client.private_key_pem.write_to_path(str(paths["key"]))
    client.private_key_and_cert_chain_pem.write_to_path(str(paths["both"]))

    def server_ctx(require_client_cert: bool = False) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server.configure_cert(ctx)
        if require_client_cert:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ca.configure_trust(ctx)
        return ctx

    out: dict[str, Any] = {k: str(v) for k, v in paths.items()}
    out["server_ctx"] = server_ctx
    out["dir"] = tmp_path
    return out


# ------------------------------------------------------------- large bodies


BIG = b"HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n" + b"x" * 300_000


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
async def test_large_bodies_nobody_reads_are_counted_whole(
    tls: bool, tls_files: dict[str, Any]
) -> None:
    """The bare connection (no body callbacks) steps over bodies that span many reads and
    counts every byte of each, over TLS too."""
    from engine.http.wire import WireClient

    server_ctx = tls_files["server_ctx"]() if tls else None
    async with Counting(BIG, ssl_context=server_ctx) as srv:
        opts = TlsOptions(cacert=tls_files["ca"]) if tls else None
        c = WireClient(srv.url, tls=opts, full=False)
        req = prepare("x", "GET", srv.url + "/", (), None)
        for _ in range(6):
            resp = await c.request(req)
            assert resp.status == 200
            assert c.bytes_in == len(BIG)
        c.close()
        await asyncio.sleep(0)


@pytest.mark.parametrize("client", CLIENTS)
async def test_200_gets_of_a_large_body_receive_every_byte(client: str) -> None:
    async with Counting(BIG) as srv:
        result = await run(_plan(srv.url, client, 200))
    f = result.model.figures()
    assert f.status == {200: 200}
    assert f.bytes_in == 200 * len(BIG) == srv.sent
