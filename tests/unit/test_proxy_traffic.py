"""The proxy's cohort routes and mirror settings as pure values: matching, parsing, refusals."""

from __future__ import annotations

import pytest

from engine.deploy.strategies.traffic import Mirror, parse_route
from engine.errors import ConfigError
from engine.load.metrics import new_histogram as load_histogram
from engine.proxy.mirror import mirror_from_dict, new_histogram
from engine.proxy.routing import RouteTable, parse_cookies, route_from_dict


def table(*specs: str) -> RouteTable:
    return RouteTable(tuple(parse_route(s) for s in specs))


def hit(t: RouteTable, headers: dict[bytes, bytes] | None = None, cookie: bytes | None = None,
        url: bytes = b"/") -> str | None:  # fmt: skip
    c = t.match(headers, cookie, url)
    return None if c is None else f"{('blue', 'green')[c.color]}+{c.cohort.decode()}"


def test_header_cookie_and_query_routes_match_exactly_or_by_full_regex() -> None:
    t = table(
        "header:X-Beta=1:green",
        "cookie:team~=qa-[0-9]+:green",
        "query:region=eu:blue",
        "query:tier~=gold|silver:green",
    )
    assert t.wanted == {b"x-beta", b"cookie"}
    assert t.query
    assert hit(t, {b"x-beta": b"1"}) == "green+x-beta"
    assert hit(t, {b"x-beta": b"10"}) is None  # exact, not a prefix
    assert hit(t, cookie=b"a=b; team=qa-12") == "green+team"
    assert hit(t, cookie=b"team=qa-12x") is None  # fullmatch, not search
    assert hit(t, url=b"/p?x=1&region=eu") == "blue+region"
    assert hit(t, url=b"/p?region=us") is None
    assert hit(t, url=b"/p?tier=silver#frag") == "green+tier"
    assert hit(t, url=b"/p?tier=%73ilver") == "green+tier"  # percent-decoded, as parse_qs
    # first match wins: the header route comes before the query route
    assert hit(t, {b"x-beta": b"1"}, url=b"/?region=eu") == "green+x-beta"


def test_no_routes_want_nothing_and_match_nothing() -> None:
    t = table()
    assert t.wanted == frozenset() and not t.query
    assert t.match(None, None, b"/?a=1") is None


def test_cookie_header_is_split_by_hand_keeping_what_simplecookie_drops() -> None:
    # SimpleCookie gives up on the whole header at a value like {"a":1} or a bare word
    header = b'flag; prefs={"a":1}; team="qa-1"; team=other; empty='
    assert parse_cookies(header) == {"prefs": '{"a":1}', "team": "qa-1", "empty": ""}
    assert parse_cookies(None) == {}


def test_route_from_dict_takes_route_as_dict_and_names_what_is_wrong() -> None:
    for spec in ("header:x-beta=1:green", "cookie:team~=qa-.*:blue", "query:r=a:b=c:green"):
        route = parse_route(spec)
        assert route_from_dict(route.as_dict()) == route
    assert (
        route_from_dict({"header": "x", "value": "1", "color": "green", "cohort": "beta"}).cohort
        == "beta"
    )
    bad = [
        ({"header": "x", "value": "1"}, "color"),
        ({"header": "x", "cookie": "y", "value": "1", "color": "green"}, "expected"),
        ({"header": "x", "value": "1", "regex": "1", "color": "green"}, "exactly one"),
        ({"header": "x", "value": 1, "color": "green"}, "strings"),
        ({"header": "x", "regex": "(", "color": "green"}, "bad regex"),
        ({"header": "x", "value": "1", "color": "red"}, "blue or green"),
        ({"header": "x", "value": "1", "color": "green", "weight": 3}, "expected"),
        ("header:x=1:green", "route object"),
    ]
    for data, words in bad:
        with pytest.raises(ConfigError, match=words):
            route_from_dict(data)


def test_mirror_from_dict_checks_percent_and_methods() -> None:
    assert mirror_from_dict({"percent": 50}) == Mirror(50)
    assert mirror_from_dict({"percent": 100, "methods": ["GET", "POST"]}).methods == ("GET", "POST")
    for data in (
        {"percent": 101},
        {"percent": True},
        {"percent": "100"},
        {"percent": 10, "methods": "GET"},
        {"percent": 10, "methods": ["get"]},
        {"percent": 10, "methods": []},
        {"percent": 10, "extra": 1},
        {"methods": ["GET"]},
    ):
        with pytest.raises(ConfigError):
            mirror_from_dict(data)


def test_the_proxy_histogram_has_the_load_engines_indexes() -> None:
    """The mirror's latency counts are read as Mark counts: the same index, the same value."""
    mine, theirs = new_histogram(), load_histogram()
    assert (mine.lowest_trackable_value, mine.highest_trackable_value) == (
        theirs.lowest_trackable_value,
        theirs.highest_trackable_value,
    )
    assert mine.significant_figures == theirs.significant_figures
    for us in (1, 999, 12_345, 2_000_000):
        assert mine.get_counts_array_index(us) == theirs.get_counts_array_index(us)
