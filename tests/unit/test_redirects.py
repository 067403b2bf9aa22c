"""Redirect rules (k6's, from Go's net/http), the cookie jar adapter and the per-origin
client map, as pure functions: the cases the real k6 was seen to take
(tests/integration/test_k6_redirects.py runs it)."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest

from engine.http.cookies import Jar
from engine.http.redirects import (
    RedirectError,
    follows,
    head_response,
    next_hop,
    redirect_method,
    redirect_target,
    same_site,
)
from engine.http.request import prepare
from engine.http.response import Response
from engine.load.session import MAX_ORIGINS, Session
from engine.profile import ProfileError, parse_profile
from engine.profile.plan import Overrides, build_plan
from tui.cli.flags import load_overrides

BASE = "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    ("url", "location", "target"),
    [
        (f"{BASE}/login", "/page", f"{BASE}/page"),
        (f"{BASE}/a/b", "c", f"{BASE}/a/c"),
        (f"{BASE}/a/b/c", "../d?q=1", f"{BASE}/a/d?q=1"),
        (f"{BASE}/a?x=1", "?y=2", f"{BASE}/a?y=2"),
        (f"{BASE}/a", "http://127.0.0.1:9/x", "http://127.0.0.1:9/x"),
        (f"{BASE}/a", "//other.test/p", "http://other.test/p"),
        (f"{BASE}/a", "  /padded  ", f"{BASE}/padded"),
        ("https://h.test/a", "http://h.test/b", "http://h.test/b"),
    ],
)
def test_a_location_resolves_against_the_request_url(url: str, location: str, target: str) -> None:
    assert redirect_target(url, location) == target


@pytest.mark.parametrize("location", ["ftp://x/", "mailto:a@b.c", "javascript:alert(1)"])
def test_a_location_that_is_not_http_cannot_be_followed(location: str) -> None:
    with pytest.raises(RedirectError):
        redirect_target(f"{BASE}/", location)


@pytest.mark.parametrize(
    ("status", "method", "body", "after"),
    [
        (301, "GET", None, ("GET", None)),
        (302, "POST", b"abc", ("GET", None)),
        (302, "PUT", b"abc", ("GET", None)),  # Go (and so k6) turn PUT into GET too
        (301, "PUT", b"abc", ("GET", None)),
        (303, "POST", b"abc", ("GET", None)),
        (303, "DELETE", b"abc", ("GET", None)),
        (303, "HEAD", None, ("HEAD", None)),
        (302, "HEAD", None, ("HEAD", None)),
        (307, "POST", b"abc", ("POST", b"abc")),
        (308, "POST", b"abc", ("POST", b"abc")),
        (307, "PUT", b"abc", ("PUT", b"abc")),
        (308, "DELETE", None, ("DELETE", None)),
    ],
)
def test_the_method_and_body_of_the_next_hop(status, method, body, after) -> None:
    assert redirect_method(status, method, body) == after


@pytest.mark.parametrize(
    ("status", "location", "followed"),
    [
        (301, "/x", True),
        (302, "/x", True),
        (303, "/x", True),
        (307, "/x", True),
        (308, "/x", True),
        (300, "/x", False),
        (304, "/x", False),
        (302, None, False),
        (302, "", False),
        (302, "   ", False),
        (200, "/x", False),
    ],
)
def test_which_responses_are_followed(status: int, location: str | None, followed: bool) -> None:
    headers = [] if location is None else [(b"Location", location.encode())]
    assert (follows(Response(status, headers)) is not None) == followed


def test_a_post_turned_into_a_get_has_no_body_and_keeps_the_first_headers() -> None:
    first = prepare(
        "login",
        "POST",
        f"{BASE}/login",
        [("content-type", "text/plain"), ("Authorization", "t"), ("Cookie", "u=1")],
        b"abc",
    )
    hop, strip = next_hop(first, first, 302, "/page", False)
    assert (hop.method, hop.body, hop.url, hop.name, strip) == (
        "GET",
        None,
        f"{BASE}/page",
        "login",
        False,
    )
    head = hop.wire.decode()
    assert head.startswith("GET /page HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n")
    assert "content-type: text/plain" in head and "Authorization: t" in head
    assert "Content-Length" not in head
    assert f"Referer: {BASE}/login\r\n" in head
    assert "Cookie" not in head  # k6 sends a user's Cookie header on the first request only


def test_a_307_keeps_method_body_and_length() -> None:
    first = prepare("p", "POST", f"{BASE}/a", [], b"abc")
    hop, _ = next_hop(first, first, 307, "/b", False)
    assert hop.wire.endswith(b"Content-Length: 3\r\n\r\nabc") and hop.method == "POST"


def test_credentials_leave_with_the_host_not_with_the_port() -> None:
    first = prepare("p", "GET", f"{BASE}/a", [("Authorization", "t"), ("X-Keep", "1")], None)
    other_port, strip = next_hop(first, first, 302, "http://127.0.0.1:9/b", False)
    assert not strip and "Authorization: t" in other_port.wire.decode()
    other_host, strip = next_hop(first, other_port, 302, "http://localhost:9/c", False)
    assert strip and "Authorization" not in other_host.wire.decode()
    assert "X-Keep: 1" in other_host.wire.decode()
    back, strip = next_hop(first, other_host, 302, f"{BASE}/d", strip)
    assert strip and "Authorization" not in back.wire.decode()  # once off, off for good (Go)


@pytest.mark.parametrize(
    ("first", "target", "same"),
    [
        ("http://example.com/", "http://example.com:81/", True),
        ("http://example.com/", "http://api.example.com/", True),
        ("http://api.example.com/", "http://example.com/", False),
        ("http://example.com/", "http://badexample.com/", False),
        ("http://127.0.0.1/", "http://localhost/", False),
    ],
)
def test_same_site_is_the_host_or_a_subdomain(first: str, target: str, same: bool) -> None:
    assert same_site(first, target) == same


def test_referer_is_the_previous_url_unless_https_to_http_or_the_users_own() -> None:
    first = prepare("p", "GET", "https://h.test/a?q=1", [], None)
    hop, _ = next_hop(first, first, 302, "/b", False)
    assert "Referer: https://h.test/a?q=1\r\n" in hop.wire.decode()
    down, _ = next_hop(first, hop, 302, "http://h.test/c", False)
    assert "Referer" not in down.wire.decode()
    own = prepare("p", "GET", f"{BASE}/a", [("Referer", "mine")], None)
    hop, _ = next_hop(own, own, 302, "/b", False)
    assert hop.wire.decode().count("Referer") == 1 and "Referer: mine" in hop.wire.decode()


def test_a_users_host_goes_only_with_a_relative_location() -> None:
    first = prepare("p", "GET", f"{BASE}/a", [("Host", "vhost.test")], None)
    relative, _ = next_hop(first, first, 302, "/b", False)
    assert "Host: vhost.test" in relative.wire.decode()
    absolute, _ = next_hop(first, first, 302, "http://127.0.0.1:9/b", False)
    assert "Host: 127.0.0.1:9\r\n" in absolute.wire.decode()


def test_a_saved_head_gives_the_final_responses_headers() -> None:
    head = (
        b"HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
        b"HTTP/1.1 302 Found\r\nLocation: /page\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n"
        b"Content-Length: 5\r\n\r\nhel"
    )
    resp = head_response(302, head)
    assert resp.header("location") == "/page"
    assert [v for k, v in resp.headers if k.lower() == b"set-cookie"] == [b"a=1", b"b=2"]
    assert resp.header("x-interim") is None
    assert head_response(302, b"garbage\r\n\r\n").headers == []


# ------------------------------------------------------------------------ the jar


def _set(*cookies: str) -> Response:
    return Response(200, [(b"Set-Cookie", c.encode()) for c in cookies])


def test_the_jar_honours_path_and_sends_the_longest_path_first() -> None:
    jar = Jar()
    jar.store(f"{BASE}/login", _set("sid=1; Path=/", "api=2; Path=/api"))
    assert jar.header(f"{BASE}/page") == "sid=1"
    assert jar.header(f"{BASE}/api/items") == "api=2; sid=1"
    assert jar.header("http://127.0.0.1:9/page") == "sid=1"  # ports do not separate cookies


def test_a_cookie_without_a_path_takes_the_request_directory() -> None:
    jar = Jar()
    jar.store(f"{BASE}/app/login", _set("s=1"))
    assert jar.header(f"{BASE}/app/page") == "s=1"
    assert jar.header(f"{BASE}/other") is None


def test_the_jar_honours_domain() -> None:
    jar = Jar()
    jar.store("http://a.example.com/", _set("d=1; Domain=example.com; Path=/", "h=2; Path=/"))
    assert jar.header("http://b.example.com/") == "d=1"
    assert jar.header("http://a.example.com/") in ("d=1; h=2", "h=2; d=1")
    jar.store("http://a.example.com/", _set("x=1; Domain=other.test; Path=/"))  # refused
    assert jar.header("http://other.test/") is None


def test_max_age_0_and_an_expires_in_the_past_delete() -> None:
    jar = Jar()
    jar.store(f"{BASE}/", _set("a=1; Path=/", "b=2; Path=/", "c=3; Path=/; Max-Age=60"))
    jar.store(f"{BASE}/", _set("a=x; Path=/; Max-Age=0"))
    past = formatdate(time.time() - 3600, usegmt=True)
    jar.store(f"{BASE}/", _set(f"b=x; Path=/; Expires={past}"))
    assert jar.header(f"{BASE}/") == "c=3"
    assert len(jar) == 1


def test_a_secure_cookie_is_not_sent_over_http() -> None:
    jar = Jar()
    jar.store("https://h.test/", _set("s=1; Secure; Path=/", "p=2; Path=/"))
    assert jar.header("http://h.test/") == "p=2"
    assert jar.header("https://h.test/") in ("s=1; p=2", "p=2; s=1")


def test_clear_empties_the_jar_and_an_empty_jar_costs_one_read() -> None:
    jar = Jar()
    assert not jar.any and jar.header(f"{BASE}/") is None
    jar.store(f"{BASE}/", _set("a=1"))
    assert jar.any
    jar.clear()
    assert not jar.any and jar.header(f"{BASE}/") is None
    jar.store(f"{BASE}/", Response(200, [(b"Content-Type", b"text/plain")]))
    assert not jar.any


def test_with_cookies_keeps_a_users_cookie_first_and_only_reprepares_when_needed() -> None:
    jar = Jar()
    plain = prepare("p", "GET", f"{BASE}/x", [("Cookie", "u=1")], None)
    assert jar.with_cookies(plain) is plain
    jar.store(f"{BASE}/", _set("sid=2; Path=/"))
    sent = jar.with_cookies(plain).wire.decode()
    assert "Cookie: u=1; sid=2\r\n" in sent and sent.count("Cookie") == 1
    bare = jar.with_cookies(prepare("p", "POST", f"{BASE}/x", [], b"abc"))
    assert bare.wire.endswith(b"Cookie: sid=2\r\nContent-Length: 3\r\n\r\nabc")
    elsewhere = prepare("p", "GET", f"{BASE}/x", [], None)
    jar.store(f"{BASE}/only/here", _set("o=1; Path=/only"))
    assert "o=1" not in jar.with_cookies(elsewhere).wire.decode()


# --------------------------------------------------------------- other origins


class FakeClient:
    def __init__(self, url: str) -> None:
        self.url = url
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_the_vu_keeps_a_bounded_map_of_other_origins_oldest_closed() -> None:
    home = FakeClient(BASE)
    made: list[FakeClient] = []

    def make(url: str) -> FakeClient:
        made.append(FakeClient(url))
        return made[-1]

    session = Session(home, BASE, make)  # type: ignore[arg-type]
    assert session.client_for(f"{BASE}/any/path?q") is home
    assert session.client_for("HTTP://127.0.0.1:8080/x") is home
    first = session.client_for("http://127.0.0.1:9001/a")
    assert first.url == "http://127.0.0.1:9001"
    assert session.client_for("http://127.0.0.1:9001/b") is first
    assert session.client_for("https://127.0.0.1:9001/b") is not first  # another scheme
    for port in range(9002, 9002 + MAX_ORIGINS):
        session.client_for(f"http://127.0.0.1:{port}/")
    assert session.others == MAX_ORIGINS
    assert first.closed and not home.closed  # the least recently used went first
    session.close()
    assert session.others == 0 and all(c.closed for c in made) and not home.closed


# ---------------------------------------------------------- profile, plan, flags

PROFILE = 'name = "r"\nbase_url = "http://127.0.0.1:9"\n'


def test_max_redirects_from_the_profile_the_flag_and_a_step() -> None:
    default = build_plan(parse_profile(PROFILE, "p.toml"), Overrides(workers=1))
    assert default.work.max_redirects == 10  # k6's default
    profile = parse_profile(PROFILE + "max_redirects = 3\n", "p.toml")
    assert build_plan(profile, Overrides(workers=1)).work.max_redirects == 3
    flagged = build_plan(profile, Overrides(workers=1, max_redirects=0))
    assert flagged.work.max_redirects == 0
    steps = parse_profile(
        PROFILE + '[[scenario.steps]]\npath = "/a"\nmax_redirects = 0\n[[scenario.steps]]\n',
        "p.toml",
    )
    assert steps.flow is not None
    assert [s.max_redirects for s in steps.flow.steps] == [0, None]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("max_redirects = -1\n", "max_redirects"),
        ('max_redirects = "10"\n', "max_redirects"),
        ("max_redirects = 1001\n", "max_redirects"),
        ("max_redirects = true\n", "max_redirects"),
        (
            '[[scenario.steps]]\npath = "/"\nmax_redirects = 2.5\n',
            "scenario.steps[0].max_redirects",
        ),
    ],
)
def test_a_bad_max_redirects_is_one_line_naming_the_key(text: str, key: str) -> None:
    with pytest.raises(ProfileError) as err:
        parse_profile(PROFILE + text, "p.toml")
    assert err.value.key == key and err.value.line is not None


@pytest.mark.parametrize("argv", [["run", "http://127.0.0.1:9/"], []])
def test_max_redirects_is_a_flag_of_run_and_of_the_app(argv: list[str]) -> None:
    from tui.cli import app_cmd, main

    parse = main.build_parser().parse_args if argv else app_cmd.build_parser().parse_args
    args = parse([*argv, "--max-redirects", "0"])
    assert load_overrides(args)["max_redirects"] == 0
    with pytest.raises(SystemExit):
        parse([*argv, "--max-redirects", "-1"])
