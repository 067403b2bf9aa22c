"""Redirects and cookies against the real k6, on the same real server: Debian's nginx,
started here with its own config on a free port (`return 302`, `add_header Set-Cookie`).

| case                                              | k6 (1.1)                        |
|---------------------------------------------------|---------------------------------|
| login sets a cookie and redirects (302) to a page | follows, sends the cookie: 10/10|
| 50 GETs of a 302 to a 200                         | 100 http_reqs, final status 200 |
| a chain of 12 redirects                           | stops after 10 hops: 11 requests|
| the cookie jar at the start of each iteration     | empty                           |
| a user's Cookie header, a hop, a later request    | first request only; jar appended|
| 200 GETs of a 1-byte file                         | data_received: heads and bodies |

Surge runs each case with both clients; counts and check results must be k6's exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.report.model import Checks, Report
from tests.integration.nginx import HEAD, LOGIN, free_port, running
from tests.integration.test_k6_crosscheck import _k6_count, _k6_metrics, _surge_report

# Counts and timings judged against k6 or a deadline: run alone, after the parallel part.
pytestmark = pytest.mark.serial

CLIENTS = ("wire", "httpx")

CHAIN = "".join(f"        location = /r/{n} {{ return 302 /r/{n - 1}; }}\n" for n in range(1, 13))
CONF = (
    HEAD
    + """\
    log_format bytes '$request_length $bytes_sent';
    server {{
        listen 127.0.0.1:{port};
{login}        location = /start {{ return 302 /done; }}
        location = /done {{ return 200 "done\\n"; }}
{chain}        location = /r/0 {{ return 200 "end\\n"; }}
        location = /set {{
            add_header Set-Cookie "n=1; Path=/" always;
            return 200 "set\\n";
        }}
        location = /cookie {{ return 200 "cookie=[$http_cookie]\\n"; }}
        location = /one-byte {{
            access_log {dir}/bytes.log bytes;
            return 200 "x";
        }}
        location = /to-cookie {{
            add_header Set-Cookie "h=1; Path=/" always;
            return 302 /cookie;
        }}
    }}
}}
"""
)


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[str]:
    """nginx on a free loopback port with CONF; its URL. Stopped afterwards."""
    folder = tmp_path / "nginx"
    folder.mkdir()
    port = free_port()
    with running(folder, CONF.format(dir=folder, port=port, chain=CHAIN, login=LOGIN), [port]):
        yield f"http://127.0.0.1:{port}"


def _checks(k6: dict) -> tuple[int, int]:
    values = k6["checks"]["values"]
    return values["passes"], values["fails"]


def _surge_checks(data: Report) -> tuple[int, int]:
    return (
        sum(c.passes for c in data.checks.values()),
        sum(c.fails for c in data.checks.values()),
    )


def _both(tmp_path: Path, url: str, options: dict, rest: str) -> list[Report]:
    """Surge's report with each client."""
    return [
        _surge_report(tmp_path, url, options, rest, "--client", client, "--workers", "1")
        for client in CLIENTS
    ]


@pytest.mark.timeout(120)
def test_login_sets_a_cookie_and_redirects_to_the_page_as_in_k6(nginx: str, tmp_path: Path) -> None:
    options = {"executor": "shared-iterations", "vus": 1, "iterations": 10}
    k6 = _k6_metrics(
        tmp_path,
        options,
        f"  const r = http.get('{nginx}/login');\n"
        "  check(r, { 'status is 200': (x) => x.status === 200,"
        " 'welcome': (x) => x.body.includes('welcome') });",
    )
    rest = (
        '[[endpoints]]\npath = "/login"\n'
        'checks = [{ status = 200 }, { body_contains = "welcome", name = "welcome" }]\n'
    )
    for data in _both(tmp_path, nginx, options, rest):
        s = data.summary
        assert _k6_count(k6, "http_reqs") == s.requests == 20
        assert _k6_count(k6, "http_req_failed", "passes") == s.failed == 0
        assert _k6_count(k6, "iterations") == s.iterations == 10
        assert _checks(k6) == _surge_checks(data) == (20, 0)


@pytest.mark.timeout(120)
def test_fifty_gets_of_a_302_to_a_200_are_100_requests_as_in_k6(nginx: str, tmp_path: Path) -> None:
    options = {"executor": "shared-iterations", "vus": 2, "iterations": 50}
    k6 = _k6_metrics(
        tmp_path,
        options,
        f"  const r = http.get('{nginx}/start');\n"
        "  check(r, { 'status is 200': (x) => x.status === 200 });",
    )
    rest = '[[endpoints]]\npath = "/start"\nchecks = [{ status = 200 }]\n'
    for data in _both(tmp_path, nginx, options, rest):
        s = data.summary
        assert _k6_count(k6, "http_reqs") == s.requests == 100
        assert _k6_count(k6, "iterations") == s.iterations == 50
        assert _checks(k6) == _surge_checks(data) == (50, 0)
    bare = _surge_report(tmp_path, nginx, options, '[[endpoints]]\npath = "/start"\n')
    assert bare.summary.requests == 100  # no checks: the wire client's streaming path


@pytest.mark.timeout(120)
def test_a_chain_of_12_stops_after_10_redirects_as_in_k6(nginx: str, tmp_path: Path) -> None:
    options = {"executor": "shared-iterations", "vus": 1, "iterations": 5}
    k6 = _k6_metrics(
        tmp_path,
        options,
        f"  const r = http.get('{nginx}/r/12');\n"
        "  check(r, { 'status is 302': (x) => x.status === 302 });",
    )
    rest = '[[endpoints]]\npath = "/r/12"\nchecks = [{ status = 302 }]\n'
    for data in _both(tmp_path, nginx, options, rest):
        s = data.summary
        assert _k6_count(k6, "http_reqs") == s.requests == 55  # 1 + 10 hops, 5 times
        assert _k6_count(k6, "iterations") == s.iterations == 5
        assert _checks(k6) == _surge_checks(data) == (5, 0)


@pytest.mark.timeout(120)
def test_the_jar_is_empty_at_the_start_of_each_iteration_as_in_k6(
    nginx: str, tmp_path: Path
) -> None:
    options = {"executor": "shared-iterations", "vus": 1, "iterations": 5}
    k6 = _k6_metrics(
        tmp_path,
        options,
        f"  let r = http.get('{nginx}/cookie');\n"
        "  check(r, { 'empty': (x) => x.body.includes('cookie=[]') });\n"
        f"  http.get('{nginx}/set');\n"
        f"  r = http.get('{nginx}/cookie');\n"
        "  check(r, { 'set': (x) => x.body.includes('cookie=[n=1]') });",
    )
    rest = (
        "[scenario]\n"
        '[[scenario.steps]]\nname = "before"\npath = "/cookie"\n'
        'checks = [{ body_contains = "cookie=[]", name = "empty" }]\n'
        '[[scenario.steps]]\nname = "set"\npath = "/set"\n'
        '[[scenario.steps]]\nname = "after"\npath = "/cookie"\n'
        'checks = [{ body_contains = "cookie=[n=1]", name = "set" }]\n'
    )
    for data in _both(tmp_path, nginx, options, rest):
        s = data.summary
        assert _k6_count(k6, "http_reqs") == s.requests == 15
        assert _checks(k6) == _surge_checks(data) == (10, 0)
        assert data.checks["empty"] == Checks(passes=5, fails=0)


@pytest.mark.timeout(120)
def test_a_users_cookie_header_is_kept_as_k6_keeps_it(nginx: str, tmp_path: Path) -> None:
    """k6 sends a user's Cookie header on the request it is given, with the jar's cookies
    appended ("u=1; n=1"), but not on that request's redirect hops (only the jar's)."""
    options = {"executor": "shared-iterations", "vus": 1, "iterations": 3}
    mine = "{ headers: { Cookie: 'u=1' } }"
    k6 = _k6_metrics(
        tmp_path,
        options,
        f"  let r = http.get('{nginx}/to-cookie', {mine});\n"
        "  check(r, { 'hop': (x) => x.body.includes('cookie=[h=1]') });\n"
        f"  http.get('{nginx}/set');\n"
        f"  r = http.get('{nginx}/cookie', {mine});\n"
        "  check(r, { 'appended': (x) => x.body.includes('cookie=[u=1; h=1; n=1]') });",
    )
    rest = (
        "[scenario]\n"
        '[[scenario.steps]]\nname = "hop"\npath = "/to-cookie"\nheaders = { Cookie = "u=1" }\n'
        'checks = [{ body_contains = "cookie=[h=1]", name = "hop" }]\n'
        '[[scenario.steps]]\nname = "set"\npath = "/set"\n'
        '[[scenario.steps]]\nname = "later"\npath = "/cookie"\nheaders = { Cookie = "u=1" }\n'
        'checks = [{ body_contains = "cookie=[u=1; h=1; n=1]", name = "appended" }]\n'
    )
    for data in _both(tmp_path, nginx, options, rest):
        assert _k6_count(k6, "http_reqs") == data.summary.requests == 12
        assert _checks(k6) == _surge_checks(data) == (6, 0)


def _logged(log: Path) -> tuple[int, int]:
    """nginx's own count of what it read and wrote ($request_length, $bytes_sent); the
    log is emptied for the next tool."""
    rows = [tuple(map(int, line.split())) for line in log.read_text().splitlines()]
    log.write_text("")
    return sum(r[0] for r in rows), sum(r[1] for r in rows)


@pytest.mark.timeout(120)
def test_bytes_of_200_gets_of_a_1_byte_file_as_k6_counts_them(nginx: str, tmp_path: Path) -> None:
    """data_received is what nginx wrote (heads and bodies), exactly as k6 counts it, in both
    clients; data_sent is what nginx read (k6's requests are longer: its User-Agent)."""
    log = tmp_path / "nginx" / "bytes.log"
    options = {"executor": "shared-iterations", "vus": 2, "iterations": 200}
    k6 = _k6_metrics(tmp_path, options, f"  http.get('{nginx}/one-byte');")
    k6_read, k6_written = _logged(log)
    assert _k6_count(k6, "data_received") == k6_written
    assert _k6_count(k6, "data_sent") == k6_read
    for client in CLIENTS:
        data = _surge_report(
            tmp_path, nginx, options, '[[endpoints]]\npath = "/one-byte"\n', "--client", client
        )
        read, written = _logged(log)
        s = data.summary
        assert s.requests == 200
        assert s.data_received_bytes == written == _k6_count(k6, "data_received"), client
        assert s.data_sent_bytes == read, client
