"""A virtual user's cookie jar: the standard library's `http.cookiejar`, adapted to
Surge's Prepared and Response (it expects urllib's Request and a message with
`get_all`), so no cookie syntax is parsed here.

k6 keeps one jar per VU and empties it at the start of each iteration; the worker
does the same (engine/load/follow.py). Domain, Path, Expires, Max-Age (0 or an Expires
in the past deletes) and Secure (sent over https only) are the jar's own rules
(DefaultCookiePolicy, RFC 2965 off: Netscape cookies as browsers and Go's jar take).
Ports do not separate cookies, in Go's jar as in this one.
"""

from __future__ import annotations

from http.cookiejar import CookieJar, DefaultCookiePolicy
from urllib.parse import urlsplit

from engine.http.request import Prepared, prepare
from engine.http.response import Response

_SET_COOKIE = b"set-cookie"


class _Request:
    """What CookieJar reads of a request (urllib.request.Request's names), and where
    it puts the Cookie header it builds."""

    __slots__ = ("cookie", "host", "origin_req_host", "type", "unverifiable", "url")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.url = url
        self.type = parts.scheme.lower()
        self.host = parts.netloc
        self.origin_req_host = (parts.hostname or "").lower()
        self.unverifiable = False
        self.cookie: str | None = None

    def get_full_url(self) -> str:
        return self.url

    def get_header(self, name: str, default: str | None = None) -> str | None:
        return self.host if name.lower() == "host" else default

    def has_header(self, name: str) -> bool:
        return False  # a user's own Cookie header is combined in with_cookies, as k6 does

    def add_unredirected_header(self, name: str, value: str) -> None:
        if name.lower() == "cookie":
            self.cookie = value


class _Message:
    """The `get_all` of an http.client message, over a Response's Set-Cookie values."""

    __slots__ = ("_values",)

    def __init__(self, values: list[str]) -> None:
        self._values = values

    def get_all(self, name: str, default: list[str] | None = None) -> list[str] | None:
        return self._values if name.lower() == "set-cookie" else default


class _Response:
    __slots__ = ("_message",)

    def __init__(self, values: list[str]) -> None:
        self._message = _Message(values)

    def info(self) -> _Message:
        return self._message


class Jar:
    """One VU's cookies. `any` is False while the jar is empty, so a request pays one
    attribute read when no cookie was ever set; the CookieJar itself (~0.7 KB) is made
    on the first Set-Cookie, so 100,000 VUs that never get one cost nothing here."""

    __slots__ = ("_cookiejar", "any")

    def __init__(self) -> None:
        self._cookiejar: CookieJar | None = None
        self.any = False

    @property
    def _jar(self) -> CookieJar:
        if self._cookiejar is None:
            self._cookiejar = CookieJar(DefaultCookiePolicy())
        return self._cookiejar

    def clear(self) -> None:
        """Empty the jar (k6: at the start of each iteration)."""
        if self.any:
            self._jar.clear()
            self.any = False

    def store(self, url: str, resp: Response) -> None:
        """Keep the cookies `resp` (the answer to a request for `url`) sets."""
        values = [v.decode("latin-1") for k, v in resp.headers if k.lower() == _SET_COOKIE]
        if values:
            self._jar.extract_cookies(_Response(values), _Request(url))  # type: ignore[arg-type]
            self.any = len(self._jar) > 0

    def header(self, url: str) -> str | None:
        """The Cookie header the jar sends with a request for `url`, or None."""
        if not self.any:
            return None
        request = _Request(url)
        self._jar.add_cookie_header(request)  # type: ignore[arg-type]
        self.any = len(self._jar) > 0  # expired cookies were dropped meanwhile
        return request.cookie

    def with_cookies(self, req: Prepared) -> Prepared:
        """`req` with the jar's cookies for its URL; `req` itself when there are none.

        A user's own Cookie header stays first and the jar's follow it in the same
        header ("user=1; sid=2"), as k6 (Go's AddCookie) sends them.
        """
        cookies = self.header(req.url)
        if cookies is None:
            return req
        headers: list[tuple[str, str]] = []
        joined = False
        for name, value in req.headers:
            if not joined and name.lower() == "cookie":
                value, joined = f"{value}; {cookies}", True
            headers.append((name, value))
        if not joined:
            headers.append(("Cookie", cookies))
        return prepare(req.name, req.method, req.url, headers, req.body)

    def __len__(self) -> int:
        return 0 if self._cookiejar is None else len(self._cookiejar)
