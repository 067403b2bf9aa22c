"""HTTP/2's options (the `http2` profile key, `--http2` / `--http1`) and the header list
a request becomes on an HTTP/2 stream."""

from __future__ import annotations

import pytest

from engine.http.h2_conn import request_headers
from engine.http.request import prepare
from engine.profile import parse_profile
from engine.profile.model import ProfileError
from engine.profile.plan import Overrides, build_plan

PROFILE = 'name = "x"\nbase_url = "https://127.0.0.1:1"\n[[endpoints]]\npath = "/"\n'


@pytest.mark.parametrize(
    ("line", "want"), [("", None), ("http2 = true\n", True), ("http2 = false\n", False)]
)
def test_the_profile_key_reaches_the_plan_and_the_flag_beats_it(
    line: str, want: bool | None
) -> None:
    profile = parse_profile(line + PROFILE, "p.toml")
    assert build_plan(profile, Overrides(workers=1)).work.http2 is want
    assert build_plan(profile, Overrides(workers=1, http2=False)).work.http2 is False


def test_a_bad_http2_value_names_the_key() -> None:
    with pytest.raises(ProfileError) as err:
        parse_profile('http2 = "yes"\n' + PROFILE, "p.toml")
    assert err.value.key == "http2"


def test_http2_and_http1_are_flags_of_run_and_exclude_each_other() -> None:
    from tui.cli import main

    parse = main.build_parser().parse_args
    url = ["run", "https://127.0.0.1:9/"]
    assert parse(url).http2 is None
    assert parse([*url, "--http2"]).http2 is True
    assert parse([*url, "--http1"]).http2 is False
    with pytest.raises(SystemExit):
        parse([*url, "--http2", "--http1"])


def test_a_request_on_a_stream_has_pseudo_headers_and_no_connection_headers() -> None:
    req = prepare(
        "x",
        "POST",
        "https://127.0.0.1:8443/a b?q=1",
        [("Host", "example.test"), ("Connection", "keep-alive"), ("X-Id", "7")],
        b"{}",
    )
    assert request_headers(req) == (
        (b":method", b"POST"),
        (b":scheme", b"https"),
        (b":authority", b"example.test"),
        (b":path", b"/a%20b?q=1"),
        (b"user-agent", b"surge/0.1"),
        (b"x-id", b"7"),
        (b"content-length", b"2"),
    )
