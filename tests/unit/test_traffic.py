"""Cohort routes and mirrors as values: the `--route` text and the upstream tag."""

import pytest

from engine.deploy.strategies.traffic import Mirror, Route, RouteKind, parse_route, split_upstream
from engine.errors import ConfigError
from engine.profile import parse_deploy


@pytest.mark.parametrize(
    ("text", "route"),
    [
        ("header:x-beta=1:green", Route(RouteKind.HEADER, "x-beta", "green", value="1")),
        ("cookie:plan=a:b:blue", Route(RouteKind.COOKIE, "plan", "blue", value="a:b")),
        ("query:region~=eu-.*:green", Route(RouteKind.QUERY, "region", "green", regex="eu-.*")),
    ],
)
def test_parse_route_splits_at_the_first_and_last_colon(text: str, route: Route) -> None:
    assert parse_route(text) == route
    assert route.spec() == text


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("header:x-beta=1", "KIND:NAME=VALUE:COLOR"),
        ("path:x=1:green", "unknown kind 'path'"),
        ("header:x-beta:green", "NAME=VALUE"),
        ("header:x=1:red", "blue or green"),
        ("header:=1:green", "NAME=VALUE"),
    ],
)
def test_parse_route_refuses_with_the_reason(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_route(text)


def test_a_cohort_is_named_after_its_parameter_unless_named() -> None:
    assert parse_route("header:X-Beta=1:green").cohort == "x-beta"
    assert Route(RouteKind.QUERY, "r", "green", value="1", cohort="eu").cohort == "eu"


@pytest.mark.parametrize(
    "cohort", ["be\r\nta", "beta\r\nset-cookie: a=1", "green+beta", "Beta", "1st", "b" * 33]
)
def test_a_cohort_that_is_not_a_short_lowercase_name_is_refused(cohort: str) -> None:
    """The cohort is written into the `x-surge-upstream` response header: no CR/LF."""
    with pytest.raises(ValueError, match="short lowercase name"):
        Route(RouteKind.HEADER, "x-beta", "green", value="1", cohort=cohort)


def test_a_cohort_named_after_its_parameter_is_checked_too() -> None:
    with pytest.raises(ValueError, match="short lowercase name"):
        parse_route("header:x\r\nset-cookie=1:green")
    assert parse_route("query:utm_source=ad:green").cohort == "utm-source"


def test_a_profile_route_whose_cohort_holds_crlf_is_refused_at_its_key() -> None:
    table = {
        "blue": ["http://127.0.0.1:1"],
        "green": ["http://127.0.0.1:2"],
        "steps": ["cohort", 50],
        "routes": [{"header": "x-beta", "value": "1", "color": "green", "cohort": "b\r\nx: 1"}],
    }
    with pytest.raises(ConfigError) as err:
        parse_deploy(table)
    assert err.value.key.startswith("deploy.routes[0]")
    assert "short lowercase name" in err.value.message


def test_split_upstream_and_mirror_bounds() -> None:
    assert split_upstream("green+beta") == ("green", "beta")
    assert split_upstream("blue") == ("blue", None)
    assert not Mirror().on and Mirror(100).on
    with pytest.raises(ValueError):
        Mirror(101)


def test_mirror_counts_window_is_the_difference() -> None:
    from engine.deploy.strategies.traffic import MirrorCounts, MirrorExample

    a = MirrorCounts(10, 1, 0, 0, {5: 10}, {6: 9}, (MirrorExample("/a", 200, 500),))
    b = MirrorCounts(
        25, 2, 1, 1, {5: 20, 7: 5}, {6: 24}, (*a.examples, MirrorExample("/b", 200, 0))
    )
    w = b.since(a)
    assert (w.mirrored, w.status_mismatch, w.body_mismatch, w.errors) == (15, 1, 1, 1)
    assert w.blue == {5: 10, 7: 5} and w.green == {6: 15}
    assert w.examples == (MirrorExample("/b", 200, 0),)
    assert a.since(b) == a  # a counter went back: the proxy restarted
