"""Redirects as k6 follows them (Go's net/http rules), as pure functions of one hop.

Checked against the real k6 1.1 (tests/integration/test_k6_redirects.py):
- 301, 302, 303, 307 and 308 with a Location are followed; 300, 304 and a 3xx without
  a Location are the answer.
- 301, 302 and 303 turn any method but GET and HEAD into GET without a body (Go does
  this for 301 and 302 too, not only for POST); 307 and 308 keep the method and body.
- A relative Location resolves against the request URL (RFC 3986 5.2); a Location
  that is not http(s) fails the hop, as in k6 ("unsupported protocol scheme").
- Each hop carries the first request's headers, with `Referer` set to the previous
  URL (none from https to http; a user's own Referer is kept), without `Cookie` (the
  jar sets the hop's cookies, so a user's Cookie header goes on the first request
  only), and without Authorization, WWW-Authenticate, Cookie and Cookie2 once the
  chain leaves the first host and its subdomains. A user's Host goes only with a
  relative Location.
- `max_redirects` hops at most (k6's default 10): a chain longer than that ends with
  the last 3xx as the answer, after 1 + max_redirects requests (k6: 11 for 10).
"""

from __future__ import annotations

import contextlib
from urllib.parse import urljoin, urlsplit

import httptools

from engine.http.request import Prepared, prepare
from engine.http.response import Response

REDIRECTS = frozenset({301, 302, 303, 307, 308})
DEFAULT_MAX_REDIRECTS = 10  # k6's maxRedirects
MAX_REDIRECTS = 1_000  # a bound on the profile key and the flag, as engine/limits.py has

_SENSITIVE = frozenset({"authorization", "www-authenticate", "cookie", "cookie2"})


class RedirectError(Exception):
    """A Location Surge cannot follow (not http or https, or no valid URL): the hop
    fails, as in k6 ("unsupported protocol scheme")."""

    kind = "bad redirect"


def redirect_target(url: str, location: str) -> str:
    """The absolute URL `location` names, resolved against the request's `url`."""
    target = urljoin(url, location.strip())
    if urlsplit(target).scheme.lower() not in ("http", "https"):
        raise RedirectError(f"cannot follow a redirect to {target!r}")
    return target


def redirect_method(status: int, method: str, body: bytes | None) -> tuple[str, bytes | None]:
    """The next hop's method and body: 301/302/303 turn all but GET and HEAD into a GET
    without a body; 307/308 keep both."""
    if status in (307, 308):
        return method, body
    if method in ("GET", "HEAD"):
        return method, None
    return "GET", None


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port): what one connection reaches."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or (443 if scheme == "https" else 80)


def same_site(first: str, target: str) -> bool:
    """Whether `target`'s host is `first`'s or a subdomain of it (Go's
    isDomainOrSubdomain): only then do credentials follow a redirect. Ports do not count."""
    sub = (urlsplit(target).hostname or "").lower()
    parent = (urlsplit(first).hostname or "").lower()
    if sub == parent:
        return True
    return not any(c in sub for c in ":%") and sub.endswith("." + parent)  # not IPv6


def next_hop(
    first: Prepared, last: Prepared, status: int, location: str, strip: bool
) -> tuple[Prepared, bool]:
    """The request that follows `last`'s redirect, and whether credentials are stripped
    from here on (once off the first host they stay off, as in Go). `first` is the
    chain's first request: its headers are the ones every hop carries."""
    target = redirect_target(last.url, location)
    method, body = redirect_method(status, last.method, last.body)
    strip = strip or not same_site(first.url, target)
    relative = not urlsplit(location.strip()).netloc
    headers: list[tuple[str, str]] = []
    referer = False
    for name, value in first.headers:
        low = name.lower()
        if low == "cookie" or (strip and low in _SENSITIVE) or (low == "host" and not relative):
            continue
        referer = referer or low == "referer"
        headers.append((name, value))
    if not referer and not (last.url.startswith("https:") and target.startswith("http:")):
        headers.append(("Referer", last.url))
    return prepare(last.name, method, target, headers, body, timeout=last.timeout), strip


def follows(resp: Response) -> str | None:
    """The Location of a response that redirects, or None when it is the answer."""
    if resp.status not in REDIRECTS:
        return None
    location = resp.header("location")
    return location if location and location.strip() else None


class _Head:
    """Collects the final response's headers from a saved head (interim 1xx skipped)."""

    __slots__ = ("done", "headers", "parser")

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.done = False
        self.parser = httptools.HttpResponseParser(self)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.done:
            self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            self.headers = []  # an interim response's: the final one follows
        else:
            self.done = True


def head_response(status: int, head: bytes) -> Response:
    """A response with the headers read again from its saved head: how the wire client's
    bare connection (no header callbacks on the hot path) gets a redirect's Location and
    Set-Cookie, on that rare path only. No headers when the head cannot be read."""
    probe = _Head()
    with contextlib.suppress(httptools.HttpParserError):
        probe.parser.feed_data(head)
    return Response(status, probe.headers if probe.done else [])
