"""HTTP/2 in the wire client, against Debian's nginx and small hostile h2 servers.

nginx (started here with a throwaway CA's certificate, trustme) listens three ways: TLS
offering h2 and http/1.1 (ALPN), TLS with http/1.1 only, and cleartext h2 (prior
knowledge). By default a run over TLS speaks what ALPN agrees on; `--http1` offers only
http/1.1; `--http2` requires h2 and counts a server that will not agree as an error per
request. The hostile servers (h2's own server side, cleartext) send garbage, close mid-
body, reset the stream, send a header block over the limit or never answer: each is a
counted error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import RequestReceived

from engine.load.controller import Controller
from engine.load.run import RunResult
from engine.profile import adhoc_profile, parse_profile
from engine.profile.plan import Overrides, build_plan
from tests.integration.nginx import HEAD, LOGIN, free_port, running
from tests.integration.test_bytes import Counting
from tests.integration.test_k6_crosscheck import _k6_count, _k6_metrics, _surge_report

BIG = 100 * 1024

CONF = (
    HEAD
    + """\
    ssl_certificate {dir}/server.pem;
    ssl_certificate_key {dir}/server.key;
    server {{
        listen 127.0.0.1:{h2} ssl http2;
        listen 127.0.0.1:{h1} ssl;
        listen 127.0.0.1:{h2c} http2;
        root {dir}/www;
        location = /one-byte {{ return 200 "x"; }}
        location = /proto {{ return 200 "$server_protocol"; }}
        location = /missing {{ return 404 "no\\n"; }}
{login}    }}
}}
"""
)


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """nginx with the three listeners; their base URLs under "h2", "h1" and "h2c"."""
    import trustme

    folder = tmp_path_factory.mktemp("nginx-h2")
    (folder / "www").mkdir()
    (folder / "www" / "big").write_bytes(b"b" * BIG)
    cert = trustme.CA().issue_cert("127.0.0.1", "localhost")
    cert.cert_chain_pems[0].write_to_path(str(folder / "server.pem"))
    cert.private_key_pem.write_to_path(str(folder / "server.key"))
    ports = {"h2": free_port(), "h1": free_port(), "h2c": free_port()}
    with running(folder, CONF.format(dir=folder, login=LOGIN, **ports), ports.values()):
        yield {
            "h2": f"https://127.0.0.1:{ports['h2']}",
            "h1": f"https://127.0.0.1:{ports['h1']}",
            "h2c": f"http://127.0.0.1:{ports['h2c']}",
        }


def _plan(url: str, n: int = 40, vus: int = 4, **overrides: Any) -> Any:
    o = Overrides(iterations=n, vus=vus, workers=1, insecure=True, **overrides)
    return build_plan(adhoc_profile(url), o, interval=0.5)


async def _run(plan: Any) -> RunResult:
    return await asyncio.wait_for(Controller(plan).run(), 30)


def _protocols(result: RunResult) -> dict[str, int]:
    return result.model.total.protocols


# ------------------------------------------------------------------ against nginx


async def test_tls_negotiates_h2_by_default_and_counts_right(nginx: dict[str, str]) -> None:
    result = await _run(_plan(nginx["h2"] + "/one-byte", n=40, vus=4))
    f = result.model.figures()
    assert f.status == {200: 40}
    assert f.errors == {}
    assert _protocols(result) == {"HTTP/2.0": 4}  # one connection per VU
    # HTTP/2 frames: a HEADERS frame (9 + HPACK block) and a DATA frame (9 + 1) per answer,
    # plus the server's SETTINGS and WINDOW_UPDATEs once per connection.
    assert 40 * 19 < f.bytes_in < 40 * 19 + 4 * 200 + 40 * 100
    assert 0 < f.bytes_out < 40 * 200


async def test_a_large_body_and_statuses_over_h2(nginx: dict[str, str]) -> None:
    profile = parse_profile(
        f'name = "x"\nbase_url = "{nginx["h2"]}"\n'
        '[[endpoints]]\npath = "/big"\nchecks = [{ body_contains = "bbbb" }]\n'
        '[[endpoints]]\npath = "/missing"\n',
        "p.toml",
    )
    o = Overrides(iterations=20, vus=2, workers=1, insecure=True)
    result = await _run(build_plan(profile, o, interval=0.5))
    steps = {s: result.model.figures((("step", s),)) for s in result.model.steps()}
    big, missing = steps["GET /big"], steps["GET /missing"]
    assert big.status == {200: big.requests}
    assert missing.status == {404: missing.requests}
    assert big.requests + missing.requests == 20
    assert big.bytes_in >= big.requests * BIG  # every body read to its end
    assert list(result.model.checks().values()) == [(big.requests, 0)]


async def test_http1_gets_http_1_1_from_the_same_server(nginx: dict[str, str]) -> None:
    """nginx's $server_protocol says what it heard."""
    o = Overrides(iterations=10, vus=2, workers=1, insecure=True)
    for line, proto in (("http2 = false\n", "HTTP/1.1"), ("", "HTTP/2.0")):
        profile = parse_profile(
            f'name = "x"\nbase_url = "{nginx["h2"]}"\n{line}'
            '[[endpoints]]\npath = "/proto"\n'
            f'checks = [{{ body_contains = "{proto}", name = "p" }}]\n',
            "p.toml",
        )
        result = await _run(build_plan(profile, o))
        assert result.model.figures().status == {200: 10}
        assert result.model.checks() == {"p": (10, 0)}
        assert _protocols(result) == {proto: 2}


async def test_http2_required_against_an_h1_only_server_is_an_error_per_request(
    nginx: dict[str, str],
) -> None:
    result = await _run(_plan(nginx["h1"] + "/one-byte", n=12, vus=3, http2=True))
    f = result.model.figures()
    assert f.requests == 12
    assert f.errors == {"no HTTP/2 (the server's ALPN chose another protocol)": 12}
    assert f.bytes_out == 0
    default = await _run(_plan(nginx["h1"] + "/one-byte", n=6, vus=2))
    assert default.model.figures().status == {200: 6}
    assert _protocols(default) == {"HTTP/1.1": 2}


async def test_http2_over_cleartext_is_h2c_with_prior_knowledge(nginx: dict[str, str]) -> None:
    result = await _run(_plan(nginx["h2c"] + "/proto", n=10, vus=2, http2=True))
    assert result.model.figures().status == {200: 10}
    assert _protocols(result) == {"HTTP/2.0": 2}


async def test_redirects_and_cookies_over_h2(nginx: dict[str, str]) -> None:
    profile = parse_profile(
        f'name = "x"\nbase_url = "{nginx["h2"]}"\n'
        '[[endpoints]]\npath = "/login"\n'
        'checks = [{ status = 200 }, { body_contains = "welcome", name = "welcome" }]\n',
        "p.toml",
    )
    result = await _run(
        build_plan(profile, Overrides(iterations=10, vus=2, workers=1, insecure=True))
    )
    f = result.model.figures()
    assert f.requests == 20  # the 302 and the page, each a request
    assert f.status == {302: 10, 200: 10}
    assert result.model.checks() == {"status is 200": (10, 0), "welcome": (10, 0)}
    assert _protocols(result) == {"HTTP/2.0": 2}


@pytest.mark.timeout(120)
def test_k6_over_h2_counts_the_same_requests_and_statuses(
    nginx: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two steps per iteration, a 200 and a 404: k6 (told to skip TLS verification, as
    Surge is with --insecure) and Surge agree on every count, both over HTTP/2."""
    monkeypatch.setenv("K6_INSECURE_SKIP_TLS_VERIFY", "true")
    options = {"executor": "shared-iterations", "vus": 4, "iterations": 60}
    k6 = _k6_metrics(
        tmp_path,
        options,
        "  const r = http.get(`${BASE}/one-byte`);\n"
        "  check(r, { 'status is 200': (x) => x.status === 200 });\n"
        "  check(http.get(`${BASE}/missing`), { 'h2': (x) => x.proto === 'HTTP/2.0' });",
        head=f"const BASE = '{nginx['h2']}';\n",
    )
    rest = (
        '[scenario]\n[[scenario.steps]]\nname = "one"\npath = "/one-byte"\n'
        "checks = [{ status = 200 }]\n"
        '[[scenario.steps]]\nname = "missing"\npath = "/missing"\n'
    )
    data = _surge_report(tmp_path, nginx["h2"], options, rest, "--insecure", "--workers", "1")
    s = data.summary
    assert _k6_count(k6, "http_reqs") == s.requests == 120
    assert _k6_count(k6, "http_req_failed", "passes") == s.failed == 60  # the 404s
    assert _k6_count(k6, "iterations") == s.iterations == 60
    assert k6["checks"]["values"]["passes"] == 120  # every 200, and k6 spoke HTTP/2 too
    assert {k: v.requests for k, v in data.steps.items()} == {"one": 60, "missing": 60}
    assert data.meta.proto == "HTTP/2.0"


# ------------------------------------------------------------------ hostile h2 servers


class HostileH2(Counting):
    """A cleartext HTTP/2 server (h2's server side) that answers each request by `mode`."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = H2Connection(H2Configuration(client_side=False, header_encoding=None))
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        try:
            while data := await reader.read(65536):
                for ev in conn.receive_data(data):
                    if isinstance(ev, RequestReceived) and not self._answer(
                        conn, ev.stream_id, writer
                    ):
                        return
                writer.write(conn.data_to_send())
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    def _answer(self, conn: H2Connection, sid: int, writer: asyncio.StreamWriter) -> bool:
        """False: the connection ends here."""
        if self.mode == "garbage":  # kept open: a close could overtake it as an RST
            writer.write(conn.data_to_send() + b"HTTP/1.1 200 OK\r\n\r\nnot a frame at all")
            return True
        if self.mode == "silent":  # never answers: the timeout sweep ends it
            return True
        if self.mode == "reset":
            conn.reset_stream(sid, 2)  # INTERNAL_ERROR
            return True
        if self.mode == "huge-headers":
            filler = [(f"x-filler-{i}".encode(), b"v" * 1000) for i in range(80)]
            conn.send_headers(sid, [(b":status", b"200"), *filler], end_stream=True)
            return True
        conn.send_headers(sid, [(b":status", b"200"), (b"content-length", b"1000")])
        conn.send_data(sid, b"only ten b")
        writer.write(conn.data_to_send())  # "close": mid-body, then the connection ends
        return False


@pytest.mark.parametrize(
    ("mode", "kind"),
    [
        ("garbage", "protocol"),
        ("close", "connection reset"),
        ("reset", "connection reset"),
        ("huge-headers", "header too large"),
        ("silent", "timeout"),
    ],
)
async def test_a_hostile_h2_server_is_counted_as_errors(mode: str, kind: str) -> None:
    async with HostileH2(mode) as srv:
        result = await _run(_plan(srv.url + "/", n=8, vus=2, http2=True, timeout=1.0))
    f = result.model.figures()
    assert f.requests == 8
    assert f.errors == {kind: 8}


async def test_http2_required_over_cleartext_against_an_http1_server_fails_fast() -> None:
    """The HTTP/1.1 answer to the h2 preface is a protocol error at once, not a timeout."""
    async with Counting() as srv:
        result = await _run(_plan(srv.url + "/", n=4, vus=1, http2=True, timeout=30.0))
    assert result.model.figures().errors == {"protocol": 4}
