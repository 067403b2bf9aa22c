"""The wire client's parsing of the proxy's color tag, fed bytes directly."""

from __future__ import annotations

import pytest

from engine.http.wire import WireClient, _Conn


@pytest.mark.parametrize(
    ("head", "color"),
    [
        (b"x-surge-upstream: green\r\n", "green"),
        (b"X-Surge-Upstream: blue\r\n", "blue"),
        (b"X-Forwarded-Upstream: 10.0.0.1\r\nx-surge-upstream: green\r\n", "green"),
        (b"X-Forwarded-Upstream: 10.0.0.1\r\n", None),
        (b"", None),
    ],
)
def test_the_color_tag_is_found_in_any_case_and_behind_lookalikes(
    head: bytes, color: str | None
) -> None:
    client = WireClient("http://127.0.0.1:9/", full=False)
    conn = _Conn(client)
    conn.data_received(b"HTTP/1.1 200 OK\r\n" + head + b"Content-Length: 0\r\n\r\n")
    assert client.upstream == color
