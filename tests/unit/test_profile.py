"""Profiles and checks: every mistake is one located line, every check a cheap boolean."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

import profiles
from engine.errors import ConfigError
from engine.http.response import Response
from engine.load.checks import Check, evaluate_checks, parse_check
from engine.load.executors import (
    CONSTANT_ARRIVAL_RATE,
    CONSTANT_VUS,
    RAMPING_ARRIVAL_RATE,
    RAMPING_VUS,
)
from engine.load.flow import Template
from engine.profile import (
    Endpoint,
    Profile,
    ProfileError,
    adhoc_profile,
    discover_profiles,
    find_line,
    format_key,
    load_profile,
    parse_deploy,
    parse_header,
    parse_profile,
    parse_statuses,
    resolve_profile,
)
from engine.profile.locate import _line_map
from engine.profile.plan import Overrides, build_plan

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "profiles"
HEAD = 'name = "t"\nbase_url = "http://127.0.0.1:8080"\n'


def profile_error(text: str, **kwargs: Any) -> ProfileError:
    with pytest.raises(ProfileError) as info:
        parse_profile(text, "p.toml", **kwargs)
    return info.value


# ------------------------------------------------------------ failure fixtures


@pytest.mark.parametrize(
    ("fixture", "env", "line", "key", "fragment"),
    [
        ("not_toml.toml", None, 3, "toml", "Invalid value"),
        ("wrong_type.toml", None, 5, "vus", "whole number"),
        ("unknown_top_key.toml", None, 4, "ramp_up", "unknown key"),
        ("unknown_endpoint_key.toml", None, 10, "endpoints[1].wieght", "unknown key"),
        ("bad_threshold.toml", None, 8, "thresholds.http_req_duration[1]", "'p95 < 300'"),
        ("unknown_executor.toml", None, 6, "load.executor", "unknown executor 'constant-vu'"),
        ("missing_executor_option.toml", None, 5, "load.preAllocatedVUs", "requires"),
        ("bad_check.toml", None, 8, "endpoints[0].checks[1].contains", "json check"),
        ("bad_duration.toml", None, 3, "timeout", "not a duration"),
        ("unknown_env.toml", "prod", 4, "environments", "known: staging, dev"),
        ("unknown_test_type.toml", None, 4, "test_type", "unknown test type 'avrage'"),
    ],
)
def test_each_failure_names_file_line_and_key(
    fixture: str, env: str | None, line: int, key: str, fragment: str
) -> None:
    path = FIXTURES / fixture
    with pytest.raises(ProfileError) as info:
        load_profile(path, env=env)
    err = info.value
    text = str(err)
    assert (err.file, err.line, err.key) == (str(path), line, key)
    assert text.startswith(f"{path}:{line}: {key}: ")
    assert fragment in text
    assert "\n" not in text


def test_every_failure_mode_has_a_fixture_and_no_fixture_loads() -> None:
    assert len(list(FIXTURES.glob("*.toml"))) == 11
    for path in FIXTURES.glob("*.toml"):
        with pytest.raises(ProfileError):
            load_profile(path, env="prod" if path.name == "unknown_env.toml" else None)


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ('base_url = "http://h"\n', None, "name"),
        ('name = "t"\n', None, "base_url"),
        (HEAD + 'name2 = "x"\n', 3, "name2"),
        (HEAD + "vus = 0\n", 3, "vus"),
        (HEAD + "vus = true\n", 3, "vus"),
        (HEAD + "rate = -1\n", 3, "rate"),
        (HEAD + "time_scale = 0\n", 3, "time_scale"),
        (HEAD + 'client = "curl"\n', 3, "client"),
        (HEAD + "test_type = 3\n", 3, "test_type"),
        (
            HEAD
            + "test_type = 'stress'\n[load]\nexecutor = 'constant-vus'\nvus = 1\nduration = '1s'\n",
            3,
            "test_type",
        ),
        (HEAD + 'insecure = "yes"\n', 3, "insecure"),
        (HEAD + 'connect_timeout = "0s"\n', 3, "connect_timeout"),
        (HEAD + 'expected_statuses = "200-99"\n', 3, "expected_statuses"),
        (HEAD + 'deploy = "blue"\n', 3, "deploy"),
        (HEAD + "[scenario]\n[headers]\nok = 'v'\n'bad name' = 'v'\n", 6, 'headers."bad name"'),
        (HEAD + "[headers]\nx-a = 1\n", 4, "headers.x-a"),
        ('name = "t"\nbase_url = "ftp://h"\n', 2, "base_url"),
        ('name = "t"\nbase_url = "http://h/?q=1"\n', 2, "base_url"),
        ('name = ""\nbase_url = "http://h"\n', 1, "name"),
        (HEAD + "[[endpoints]]\nmethod = 'FETCH'\n", 4, "endpoints[0].method"),
        (HEAD + "[[endpoints]]\npath = 'echo'\n", 4, "endpoints[0].path"),
        (HEAD + "[[endpoints]]\nweight = 0\n", 4, "endpoints[0].weight"),
        (HEAD + "[[endpoints]]\nbody = 'x'\njson = {a = 1}\n", 5, "endpoints[0].json"),
        (HEAD + "[[endpoints]]\nchecks = {status = 200}\n", 4, "endpoints[0].checks"),
        (HEAD + "[[endpoints]]\n[[endpoints]]\nname = 'GET /'\n", 5, "endpoints[1].name"),
        (HEAD + "endpoints = [{path = '/'}, {path = '/'}]\n", 3, "endpoints[1].name"),
        (
            HEAD + "[[endpoints]]\n[[endpoints.checks]]\nstatus = 200\n[[endpoints.checks]]\n"
            "status = 'ok'\n",
            7,
            "endpoints[0].checks[1].status",
        ),
        (
            HEAD + "[thresholds]\nhttp_req_duraton = ['p(95)<500']\n",
            4,
            "thresholds.http_req_duraton",
        ),
        (
            HEAD + "[thresholds]\nhttp_req_duration = [\n"
            "  { threshold = 'p(95)<1', abortOnFail = 1 },\n]\n",
            5,
            "thresholds.http_req_duration[0].abortOnFail",
        ),
        (
            HEAD + "[thresholds]\n"
            "http_req_duration = { threshold = 'p(9)<1', delayAbortEval = [1] }\n",
            4,
            "thresholds.http_req_duration",
        ),
        (
            HEAD
            + "[load]\nexecutor = 'ramping-vus'\nstages = [\n  { duration = '1m', target = 5 },\n"
            "  { duration = '1m', target = -1 },\n]\n",
            7,
            "load.stages[1].target",
        ),
        (HEAD + "[load]\nexecutor = 'constant-vus'\nduration = [1]\n", 5, "load.duration"),
        (
            HEAD + "[load]\nexecutor = 'constant-arrival-rate'\nrate = 1\nduration = '1s'\n"
            "pre_allocated_vus = 5\nmax_vus = 2\n",
            8,
            "load.max_vus",
        ),
        (HEAD + "[environments]\nstaging = 'x'\n", 4, "environments.staging"),
        (HEAD + "[environments.staging]\ntimeout = '1s'\n", 4, "environments.staging.timeout"),
        (HEAD + "[environments.staging]\nvus = 'many'\n", 4, "environments.staging.vus"),
    ],
)
def test_inline_failures_are_located(text: str, line: int | None, key: str) -> None:
    err = profile_error(text)
    assert (err.line, err.key) == (line, key), str(err)
    where = f"p.toml:{line}" if line is not None else "p.toml"
    assert str(err).startswith(f"{where}: {key}: ")


def test_toml_error_at_end_of_document_points_at_last_line() -> None:
    err = profile_error('name = "t"\nvus = [1,\n')
    assert (err.line, err.key) == (2, "toml")


def test_unreadable_files_are_profile_errors(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"missing\.toml: file: cannot read"):
        load_profile(tmp_path / "missing.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b'name = "t"\nx = "\xff"\n')
    with pytest.raises(ProfileError) as info:
        load_profile(binary)
    assert (info.value.line, info.value.key) == (2, "toml")


def test_profile_error_is_one_line_even_for_multiline_messages() -> None:
    err = ProfileError("a.toml", None, "k", "first\nsecond")
    assert str(err) == "a.toml: k: first second"
    assert isinstance(err, ValueError)
    assert str(ProfileError("a.toml", 3, "k", "m")) == "a.toml:3: k: m"


def test_bad_base_url_override_is_not_located_in_the_file() -> None:
    err = profile_error(HEAD, base_url="localhost:8080")
    assert (err.line, err.key) == (None, "base_url")
    assert "--base-url" in err.message


# ------------------------------------------------------------------ find_line

LOCATOR_TEXT = """\
# comment = 1
name = "x"
a.b.c = 1
"quoted key" = 2
'lit.eral' = 3
[thresholds]
"http_req_duration{step:login}" = ["p(95)<500"]
multi = \"\"\"
[not_a_table]
fake = 1
\"\"\"
[[endpoints]]
path = "/"
[[endpoints]]
path = "/b"
checks = [
  { status = 200 },
  # a comment between elements
  { json = "a.b", equals = [1, 2] },
]
[endpoints.sub]
k = { x = 1, y.z = 2 }
[[endpoints.checks2]]
v = 1
[[endpoints.checks2]]
v = 2
[ table . "with spaces" ]
w = 'x' # trailing
"""


@pytest.mark.parametrize(
    ("path", "line"),
    [
        (["name"], 2),
        (["a", "b", "c"], 3),
        (["a"], 3),
        (["quoted key"], 4),
        (["lit.eral"], 5),
        (["thresholds"], 6),
        (["thresholds", "http_req_duration{step:login}"], 7),
        (["thresholds", "http_req_duration{step:login}", 0], 7),
        (["thresholds", "multi"], 8),
        (["not_a_table"], None),
        (["thresholds", "fake"], 6),
        (["endpoints"], 12),
        (["endpoints", 0], 12),
        (["endpoints", 0, "path"], 13),
        (["endpoints", 1], 14),
        (["endpoints", 1, "path"], 15),
        (["endpoints", 1, "weight"], 14),
        (["endpoints", 1, "checks"], 16),
        (["endpoints", 1, "checks", 0, "status"], 17),
        (["endpoints", 1, "checks", 1], 19),
        (["endpoints", 1, "checks", 1, "equals", 1], 19),
        (["endpoints", 1, "checks", 2], 16),
        (["endpoints", 1, "sub"], 21),
        (["endpoints", 1, "sub", "k", "y", "z"], 22),
        (["endpoints", 1, "checks2", 1, "v"], 26),
        (["endpoints", 1, "checks2", 0, "v"], 24),
        (["endpoints", 2, "path"], 12),
        (["table", "with spaces", "w"], 28),
        (["missing"], None),
        ([], None),
    ],
)
def test_find_line(path: list[str | int], line: int | None) -> None:
    assert find_line(LOCATOR_TEXT, path) == line


def test_find_line_handles_crlf_and_escapes_in_quoted_keys() -> None:
    text = 'a = 1\r\n"k\\u0041\\"q" = 2\r\n[t]\r\nb = 3\r\n'
    assert tomllib.loads(text) == {"a": 1, 'kA"q': 2, "t": {"b": 3}}
    assert find_line(text, ['kA"q']) == 2
    assert find_line(text, ["t", "b"]) == 4


TOML_ALPHABET = st.sampled_from([*"[]{}\"'=.,#\\\n\r\t azAZ09_-", '"""', "'''", "[[", "]]"])


@settings(max_examples=300, deadline=None)
@given(
    text=st.lists(TOML_ALPHABET, max_size=80).map("".join) | st.text(max_size=80),
    path=st.lists(st.text(max_size=3) | st.integers(-1, 3), max_size=4),
)
def test_find_line_never_raises_and_stays_in_range(text: str, path: list[str | int]) -> None:
    line = find_line(text, path)
    assert line is None or 1 <= line <= text.count("\n") + 1


KEYS = st.text(alphabet="abz_- .\"'é", min_size=1, max_size=4)
SCALARS = st.integers(-5, 5) | st.text(alphabet="ab\n\"'\\#[]=", max_size=5) | st.booleans()
DOCS = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(KEYS, inner, max_size=3)
        | st.lists(st.dictionaries(KEYS, inner, min_size=1, max_size=2), min_size=1, max_size=2)
    ),
    max_leaves=12,
)


def leaf_paths(node: Any, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in leaf_paths(v, (*path, k))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in leaf_paths(v, (*path, i))] or [path]
    return [path]


@settings(max_examples=200, deadline=None)
@given(doc=st.dictionaries(KEYS, DOCS, max_size=4))
def test_find_line_locates_every_value_tomli_w_writes(doc: dict[str, Any]) -> None:
    """Whatever layout a TOML writer picks, every value path is found, not a fallback."""
    text = tomli_w.dumps(doc)
    assert tomllib.loads(text) == doc
    lines = _line_map(text)
    for path in leaf_paths(doc):
        if path:
            assert path in lines, (path, text)


def test_find_line_knows_every_key_of_the_example() -> None:
    text = (ROOT / "profiles" / "example.toml").read_text()
    lines = _line_map(text)
    for path in leaf_paths(tomllib.loads(text)):
        assert path in lines, path


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (("vus",), "vus"),
        (("endpoints", 1, "checks", 0, "status"), "endpoints[1].checks[0].status"),
        (("thresholds", "http_req_duration{step:a}"), 'thresholds."http_req_duration{step:a}"'),
        (("headers", "x-a"), "headers.x-a"),
    ],
)
def test_format_key(path: tuple[str | int, ...], text: str) -> None:
    assert format_key(path) == text


# --------------------------------------------------------------------- checks


def response(status: int = 200, body: bytes = b"", **headers: str) -> Response:
    return Response(
        status, [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()], body
    )


JSON_BODY = json.dumps(
    {
        "data": {"id": 3, "ok": True, "items": [{"id": 7}, {"id": 8}], "tags": ["a"], "none": None},
        "token": "t0k",
        "n": 1,
    }
).encode()


@pytest.mark.parametrize(
    ("table", "resp", "duration", "expected"),
    [
        ({"status": 200}, response(200), 0.0, True),
        ({"status": 200}, response(201), 0.0, False),
        ({"status": [200, 201]}, response(201), 0.0, True),
        ({"status": [200, 201]}, response(404), 0.0, False),
        (
            {"header": "content-type", "contains": "json"},
            response(content_type="application/json"),
            0.0,
            True,
        ),
        (
            {"header": "Content-Type", "contains": "json"},
            response(content_type="text/html"),
            0,
            False,
        ),
        ({"header": "content-type", "contains": "json"}, response(), 0.0, False),
        ({"header": "x-a", "equals": "b"}, response(x_a="b"), 0.0, True),
        ({"header": "x-a", "equals": "b"}, response(x_a="bb"), 0.0, False),
        ({"header": "x-a", "exists": True}, response(x_a=""), 0.0, True),
        ({"header": "x-a", "exists": True}, response(), 0.0, False),
        ({"header": "x-a", "exists": False}, response(), 0.0, True),
        ({"header": "x-a"}, response(X_A="1"), 0.0, True),
        ({"body_contains": "hello"}, response(body=b"oh hello world"), 0.0, True),
        ({"body_contains": "hello"}, response(body=b"HELLO"), 0.0, False),
        ({"body_contains": "héllo"}, response(body="héllo".encode()), 0.0, True),
        ({"json": "data.id", "equals": 3}, response(body=JSON_BODY), 0.0, True),
        ({"json": "data.id", "equals": 3.0}, response(body=JSON_BODY), 0.0, True),
        ({"json": "data.id", "equals": "3"}, response(body=JSON_BODY), 0.0, False),
        ({"json": "data.ok", "equals": True}, response(body=JSON_BODY), 0.0, True),
        ({"json": "n", "equals": True}, response(body=JSON_BODY), 0.0, False),
        ({"json": "data.items.1.id", "equals": 8}, response(body=JSON_BODY), 0.0, True),
        ({"json": "data.items.2.id", "equals": 8}, response(body=JSON_BODY), 0.0, False),
        ({"json": "data.tags", "equals": ["a"]}, response(body=JSON_BODY), 0.0, True),
        ({"json": "data.items.0", "equals": {"id": 7}}, response(body=JSON_BODY), 0.0, True),
        ({"json": "token", "exists": True}, response(body=JSON_BODY), 0.0, True),
        ({"json": "data.none", "exists": True}, response(body=JSON_BODY), 0.0, True),
        ({"json": "data.none", "equals": ""}, response(body=JSON_BODY), 0.0, False),
        ({"json": "nope", "exists": False}, response(body=JSON_BODY), 0.0, True),
        ({"json": "token.x", "exists": True}, response(body=JSON_BODY), 0.0, False),
        ({"json": "token"}, response(body=b"not json"), 0.0, False),
        ({"json": "token", "exists": False}, response(body=b"\xff{"), 0.0, False),
        ({"json": "0", "equals": 1}, response(body=b"[1, 2]"), 0.0, True),
        ({"json": "0", "equals": 1}, response(body=b'{"0": 1}'), 0.0, True),
        ({"duration_under": "200ms"}, response(), 0.199, True),
        ({"duration_under": "200ms"}, response(), 0.2, False),
        ({"duration_under": 1}, response(), 0.5, True),
    ],
)
def test_check_evaluate(
    table: dict[str, Any], resp: Response, duration: float, expected: bool
) -> None:
    check = parse_check(table)
    assert check.evaluate(resp, duration) is expected
    assert evaluate_checks([check, check], resp, duration) == [expected, expected]


@pytest.mark.parametrize(
    ("table", "name"),
    [
        ({"status": 200}, "status is 200"),
        ({"status": [200, 201]}, "status in [200, 201]"),
        ({"header": "content-type", "contains": "json"}, "header content-type contains json"),
        ({"header": "x-a", "equals": "b"}, "header x-a == b"),
        ({"header": "x-a", "exists": True}, "header x-a exists"),
        ({"header": "x-a", "exists": False}, "header x-a absent"),
        ({"body_contains": "hello"}, "body contains hello"),
        ({"json": "data.id", "equals": 3}, "json data.id == 3"),
        ({"json": "data.name", "equals": "al"}, 'json data.name == "al"'),
        ({"json": "token", "exists": True}, "json token exists"),
        ({"duration_under": "200ms"}, "duration < 200ms"),
        ({"duration_under": "1m30s"}, "duration < 1m30s"),
        ({"status": 200, "name": " fine "}, "fine"),
    ],
)
def test_check_names(table: dict[str, Any], name: str) -> None:
    assert parse_check(table).name == name


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({}, "check"),
        ({"statu": 200}, "statu"),
        ({"status": 200, "body_contains": "x"}, "body_contains"),
        ({"contains": "x"}, "contains"),
        ({"name": "x"}, "check"),
        ({"status": "200"}, "status"),
        ({"status": True}, "status"),
        ({"status": 99}, "status"),
        ({"status": []}, "status"),
        ({"status": 200, "equals": 200}, "equals"),
        ({"header": ""}, "header"),
        ({"header": 1}, "header"),
        ({"header": "x", "contains": 1}, "contains"),
        ({"header": "x", "exists": "yes"}, "exists"),
        ({"header": "x", "contains": "a", "equals": "b"}, "equals"),
        ({"body_contains": ""}, "body_contains"),
        ({"json": "a..b"}, "json"),
        ({"json": "a", "contains": "x"}, "contains"),
        ({"json": "a", "equals": tomllib.loads("d = 1979-05-27")["d"]}, "equals"),
        ({"duration_under": "fast"}, "duration_under"),
        ({"duration_under": "0s"}, "duration_under"),
        ({"duration_under": [1]}, "duration_under"),
        ({"status": 200, "name": ""}, "name"),
    ],
)
def test_parse_check_errors_name_the_key(table: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_check(table)
    assert info.value.key == key


def test_parse_check_rejects_non_tables() -> None:
    with pytest.raises(ConfigError):
        parse_check("status = 200")  # type: ignore[arg-type]


def test_checks_are_hashable_even_with_list_values() -> None:
    check = parse_check({"json": "a", "equals": [1, 2]})
    assert hash(check) == hash(parse_check({"json": "a", "equals": [1, 2]}))
    assert isinstance(check, Check)


CHECK_TABLES = [
    {"status": [200, 204]},
    {"header": "content-type", "contains": "json"},
    {"body_contains": "x"},
    {"json": "a.0.b", "equals": {"c": [1, True]}},
    {"json": "a", "exists": True},
    {"duration_under": "1s"},
]


@settings(max_examples=200, deadline=None)
@given(
    status=st.integers(0, 1000),
    headers=st.lists(st.tuples(st.binary(max_size=12), st.binary(max_size=12)), max_size=3),
    body=st.binary(max_size=40)
    | st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=3),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner),
        max_leaves=8,
    ).map(lambda v: json.dumps({"a": v}).encode()),
    duration=st.floats(allow_nan=True),
)
def test_checks_never_raise(
    status: int, headers: list[tuple[bytes, bytes]], body: bytes, duration: float
) -> None:
    resp = Response(status, headers, body)
    checks = [parse_check(t) for t in CHECK_TABLES]
    results = evaluate_checks(checks, resp, duration)
    assert results == [c.evaluate(resp, duration) for c in checks]
    assert all(isinstance(r, bool) for r in results)


# ---------------------------------------------------------- expected statuses


@pytest.mark.parametrize(
    ("value", "ranges"),
    [
        ("200-399", ((200, 399),)),
        ("200-299,404", ((200, 299), (404, 404))),
        (" 404 , 200 - 299 ", ((200, 299), (404, 404))),
        ([200, 201], ((200, 201),)),
        ([201, "200-204", 500], ((200, 204), (500, 500))),
        (204, ((204, 204),)),
        ("200-299,250-300", ((200, 300),)),
    ],
)
def test_parse_statuses(value: Any, ranges: tuple[tuple[int, int], ...]) -> None:
    assert parse_statuses(value) == ranges
    text = f"{HEAD}expected_statuses = {json.dumps(value)}\n"
    assert parse_profile(text, "p.toml").expected_statuses == ranges


@pytest.mark.parametrize("value", ["", "abc", "200-", "299-200", "99", "600", [], [True], 1.5])
def test_parse_statuses_rejects(value: Any) -> None:
    with pytest.raises(ValueError):
        parse_statuses(value)


# -------------------------------------------------------------- environments

ENV_TEXT = """\
name = "envs"
base_url = "http://127.0.0.1:8080"
description = "top"
vus = 10
rate = 100
timeout = "3s"

[headers]
Accept = "text/plain"
X-Team = "core"

[environments.staging]
base_url = "https://staging.example.com/"
vus = 2
headers = { accept = "application/json", Authorization = "Bearer s" }

[environments.prod]
description = "production"
max_vus = 50
"""


def test_no_environment_keeps_the_top_level() -> None:
    p = parse_profile(ENV_TEXT, "e.toml")
    assert (p.environment, p.environments) == (None, ("staging", "prod"))
    assert (p.base_url, p.vus, p.rate, p.description) == ("http://127.0.0.1:8080", 10, 100.0, "top")
    assert p.headers == (("Accept", "text/plain"), ("X-Team", "core"))


def test_environment_overrides_scalars_and_merges_headers() -> None:
    p = parse_profile(ENV_TEXT, "e.toml", env="staging")
    assert p.environment == "staging"
    assert (p.base_url, p.vus, p.rate, p.timeout) == ("https://staging.example.com", 2, 100.0, 3.0)
    assert p.headers == (
        ("accept", "application/json"),
        ("X-Team", "core"),
        ("Authorization", "Bearer s"),
    )
    prod = parse_profile(ENV_TEXT, "e.toml", env="prod")
    assert (prod.description, prod.max_vus, prod.base_url) == (
        "production",
        50,
        "http://127.0.0.1:8080",
    )


def test_base_url_may_come_from_the_environment_or_the_override() -> None:
    text = 'name = "t"\n[environments.dev]\nbase_url = "http://localhost:9000"\n'
    assert profile_error(text).key == "base_url"
    assert parse_profile(text, "t.toml", env="dev").base_url == "http://localhost:9000"
    chosen = parse_profile(text, "t.toml", env="dev", base_url="https://x.test:8443/api/")
    assert chosen.base_url == "https://x.test:8443/api"


def test_unknown_env_without_environments() -> None:
    err = profile_error(HEAD, env="prod")
    assert (err.line, err.key) == (None, "environments")
    assert "none are defined" in err.message


# ------------------------------------------------------------------ endpoints


def test_default_endpoint_and_defaults() -> None:
    p = parse_profile(HEAD, "p.toml")
    assert p.endpoints == (Endpoint(name="GET /"),)
    assert (p.client, p.timeout, p.connect_timeout, p.time_scale) == ("wire", 10.0, 5.0, 1.0)
    assert p.expected_statuses == ((200, 399),)
    assert (p.load, p.thresholds, p.deploy, p.flow) == (None, (), None, None)


def test_endpoint_fields() -> None:
    text = HEAD + (
        "[headers]\nx-all = '1'\n"
        "[[endpoints]]\nmethod = 'post'\npath = '/items'\njson = { id = 3, when = 1979-05-27 }\n"
        "weight = 2\nheaders = { x-one = 'a' }\nchecks = [{ status = 201 }]\n"
        "[[endpoints]]\nname = 'raw'\nmethod = 'PUT'\n"
        "path = 'http://127.0.0.1:8080/x'\nbody = 'hé'\n"
        "[[endpoints]]\nmethod = 'POST'\njson = [1]\nheaders = { Content-Type = 'application/x' }\n"
    )
    post, raw, typed = parse_profile(text, "p.toml").endpoints
    assert (post.name, post.method, post.path, post.weight) == (
        "POST /items",
        "POST",
        "/items",
        2.0,
    )
    assert json.loads(post.body or b"") == {"id": 3, "when": "1979-05-27"}
    assert post.headers == (("x-one", "a"), ("content-type", "application/json"))
    assert [c.name for c in post.checks] == ["status is 201"]
    assert (raw.name, raw.path, raw.body, raw.headers) == (
        "raw",
        "http://127.0.0.1:8080/x",
        "hé".encode(),
        (),
    )
    assert typed.headers == (("Content-Type", "application/x"),)


def test_json_body_respects_a_profile_level_content_type() -> None:
    text = HEAD + "[headers]\ncontent-type = 'application/vnd+json'\n[[endpoints]]\njson = {}\n"
    (endpoint,) = parse_profile(text, "p.toml").endpoints
    assert (endpoint.body, endpoint.headers) == (b"{}", ())


def test_load_table_uses_k6_option_names() -> None:
    text = HEAD + (
        "[load]\nexecutor = 'ramping-vus'\nstartVUs = 0\n"
        "stages = [{ duration = '10s', target = 5 }, { duration = '5s', target = 0 }]\n"
    )
    load = parse_profile(text, "p.toml").load
    assert load is not None
    assert (load.executor, load.peak_vus, load.planned_duration) == (RAMPING_VUS, 5, 15.0)


DEPLOY = "[deploy]\nblue = ['http://127.0.0.1:1']\ngreen = ['http://127.0.0.1:2']\n"


@pytest.mark.parametrize(
    ("text", "overrides", "want_type", "want_executor"),
    [
        # the profile's type, an alias read as its canonical name
        (HEAD + "rate = 40\ntest_type = 'load'\n", Overrides(), "average", RAMPING_ARRIVAL_RATE),
        # --type beats it; a load flag beats both the profile's type and its default
        (HEAD + "vus = 4\ntest_type = 'stress'\n", Overrides(test_type="spike"), "spike", None),
        (HEAD + "test_type = 'stress'\n", Overrides(vus=3, duration=2.0), None, CONSTANT_VUS),
        # a rollout without [load]: average at the profile's own rate and time scale
        (HEAD + "rate = 200\ntime_scale = 0.03\n" + DEPLOY, Overrides(), "average", None),
        (HEAD + "rate = 200\n" + DEPLOY, Overrides(rate=100.0), None, CONSTANT_ARRIVAL_RATE),
        # with [load], the rollout runs it; without [deploy], the plain default
        (
            HEAD + "[load]\nexecutor = 'constant-vus'\nduration = '1s'\n" + DEPLOY,
            Overrides(),
            None,
            CONSTANT_VUS,
        ),
        (HEAD, Overrides(), None, CONSTANT_VUS),
    ],
)
def test_the_run_s_test_type_comes_from_type_then_flags_then_the_profile(
    text: str, overrides: Overrides, want_type: str | None, want_executor: str | None
) -> None:
    plan = build_plan(parse_profile(text, "p.toml"), overrides)
    assert plan.test_type == want_type
    if want_executor is not None:
        assert plan.work.only.executor.executor == want_executor


def test_a_rollout_profile_without_load_runs_its_own_rate_and_time_scale() -> None:
    """The demo's canary (4 steps of 5 s) fits inside the load that judges it: not the
    default 10 VUs for 10 s at whatever rate they reach."""
    plan = build_plan(load_profile(ROOT / "profiles" / "demo.toml"), Overrides())
    cfg = plan.work.only.executor
    assert (plan.test_type, cfg.executor) == ("average", RAMPING_ARRIVAL_RATE)
    assert max(s.target for s in cfg.stages) == 200
    assert 60 <= cfg.planned_duration <= 80  # 40 minutes at time_scale 0.03


def test_deploy_and_flow_tables_are_parsed() -> None:
    text = (
        HEAD
        + "[deploy]\nblue = ['http://127.0.0.1:1']\ngreen = ['http://127.0.0.1:2']\n"
        + "strategy = 'linear'\npercent = 20\nevery = '1s'\n"
        + "[flow]\n[[flow.steps]]\npath = '/'\n"
    )
    p = parse_profile(text, "p.toml")
    assert p.deploy is not None and p.deploy.strategy == "linear"
    assert p.deploy.green == ("http://127.0.0.1:2",)
    assert p.flow is not None and p.flow.steps[0].name == "GET /"
    assert p.notes == ()


def test_the_old_scenario_table_is_read_as_a_flow_with_a_located_note() -> None:
    old = parse_profile(HEAD + "[scenario]\n[[scenario.steps]]\npath = '/a'\n", "p.toml")
    new = parse_profile(HEAD + "[flow]\n[[flow.steps]]\npath = '/a'\n", "p.toml")
    assert old.flow == new.flow
    (note,) = old.notes
    assert note.startswith("p.toml:3: scenario: [scenario] is now called [flow]")


def test_flow_and_scenario_tables_together_are_refused() -> None:
    text = HEAD + "[flow]\n[[flow.steps]]\npath = '/'\n[scenario]\n[[scenario.steps]]\n"
    with pytest.raises(ProfileError, match=r"p.toml:6: scenario: \[scenario\] is the old name"):
        parse_profile(text, "p.toml")


def test_deploy_errors_name_the_line() -> None:
    text = (
        HEAD
        + "[deploy]\nblue = ['http://127.0.0.1:1']\ngreen = ['http://127.0.0.1:2']\n"
        + "strategy = 'canary'\nsteps = [1, 500]\n"
    )
    with pytest.raises(ProfileError) as err:
        parse_profile(text, "p.toml")
    assert err.value.key.startswith("deploy.steps")
    assert "steps" in text.splitlines()[err.value.line - 1]


@pytest.mark.parametrize(
    ("deploy_key", "top_key", "value"),
    [("sticky", "insecure", '"yes"'), ("interval", "timeout", "0"), ("max_p99_ms", "rate", "-5")],
)
def test_deploy_and_top_level_share_their_messages(
    deploy_key: str, top_key: str, value: str
) -> None:
    """One set of field validators: the same mistake reads the same in [deploy] as above it."""
    urls = "blue = ['http://127.0.0.1:1']\ngreen = ['http://127.0.0.1:2']\n"
    in_deploy = profile_error(HEAD + f"[deploy]\n{urls}{deploy_key} = {value}\n")
    at_top = profile_error(HEAD + f"{top_key} = {value}\n")
    assert (in_deploy.key, at_top.key) == (f"deploy.{deploy_key}", top_key)
    assert in_deploy.message == at_top.message
    with pytest.raises(ConfigError) as direct:
        parse_deploy({**tomllib.loads(urls), deploy_key: tomllib.loads(f"v = {value}")["v"]})
    assert (direct.value.key, direct.value.message) == (f"deploy.{deploy_key}", at_top.message)


def test_resolve_profile_prefers_a_path_then_a_shipped_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_profile("example") == profiles.shipped("example")
    assert resolve_profile("example.toml") == profiles.SHIPPED / "example.toml"
    (tmp_path / "example.toml").write_text(HEAD)
    assert resolve_profile("example.toml") == Path("example.toml")
    assert resolve_profile("missing.toml") == Path("missing.toml")
    with pytest.raises(ProfileError) as err:
        load_profile(resolve_profile("missing.toml"))
    assert err.value.file == "missing.toml" and err.value.key == "file"


def test_example_profile_loads() -> None:
    p = load_profile(ROOT / "profiles" / "example.toml")
    assert isinstance(p, Profile)
    assert p.base_url == "http://127.0.0.1:8080"
    assert [(e.name, e.method, e.weight) for e in p.endpoints] == [
        ("home", "GET", 3.0),
        ("echo", "GET", 1.0),
    ]
    assert all(e.checks for e in p.endpoints)
    assert {(t.key, t.expression) for t in p.thresholds} == {
        ("http_req_duration", "p(95)<500"),
        ("http_req_failed", "rate<0.01"),
        ("checks", "rate>0.99"),
    }
    assert (p.vus, p.rate, p.time_scale) == (10, 200.0, 0.02)
    assert p.load is not None and p.load.executor == CONSTANT_ARRIVAL_RATE
    assert "staging" in p.environments
    staging = load_profile(ROOT / "profiles" / "example.toml", env="staging")
    assert staging.base_url.startswith("https://")


# --------------------------------------------------------------------- ad hoc


@pytest.mark.parametrize(
    ("url", "base", "path"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080", "/"),
        ("https://example.com/a/b?q=1&r=2#frag", "https://example.com", "/a/b?q=1&r=2"),
        ("HTTP://[::1]:9000/x", "http://[::1]:9000", "/x"),
        ("http://host?x=1", "http://host", "/?x=1"),
    ],
)
def test_adhoc_profile(url: str, base: str, path: str) -> None:
    p = adhoc_profile(url, method="post", headers=[("X-A", "1")], body=b"{}")
    assert (p.source, p.base_url, p.headers) == ("<url>", base, (("X-A", "1"),))
    (endpoint,) = p.endpoints
    assert (endpoint.method, endpoint.path, endpoint.body) == ("POST", path, b"{}")
    assert endpoint.name == f"POST {path}"


@pytest.mark.parametrize(
    ("url", "method", "key"),
    [
        ("ftp://host/x", "GET", "url"),
        ("127.0.0.1:8080", "GET", "url"),
        ("http:///nohost", "GET", "url"),
        ("http://host:99999/", "GET", "url"),
        ("http://host/a b", "GET", "url"),
        ("http://host/", "FETCH", "method"),
    ],
)
def test_adhoc_profile_rejects(url: str, method: str, key: str) -> None:
    with pytest.raises(ProfileError) as info:
        adhoc_profile(url, method=method)
    assert (info.value.file, info.value.key) == ("<url>", key)


# -------------------------------------------------------- discovery and headers


def test_discover_profiles(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    for path in (a / "z.toml", a / "m.toml", b / "c.toml", a / "notes.txt"):
        path.write_text("")
    (a / "dir.toml").mkdir()
    found = discover_profiles([a, tmp_path / "missing", b, a])
    assert found == [a / "m.toml", a / "z.toml", b / "c.toml"]


@pytest.mark.parametrize(
    ("text", "pair"),
    [
        ("X-A: b", ("X-A", "b")),
        ("Authorization:Bearer a:b", ("Authorization", "Bearer a:b")),
        ("  accept :  */*  ", ("accept", "*/*")),
        ("X-Empty:", ("X-Empty", "")),
    ],
)
def test_parse_header(text: str, pair: tuple[str, str]) -> None:
    assert parse_header(text) == pair


@pytest.mark.parametrize("text", ["no colon", ": v", "bad name: v", "x: a\nb", "é: v"])
def test_parse_header_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_header(text)


# ------------------------------------------------------- check-value placeholders

STEP = '[scenario]\n[[scenario.steps]]\npath = "/u/${vu}"\n'


@pytest.mark.parametrize(
    ("text", "line", "key", "name"),
    [
        (
            HEAD + STEP + 'checks = [{ header = "X", equals = "u${user}" }]\n',
            6,
            "scenario.steps[0].checks[0].equals",
            "user",
        ),
        (
            HEAD
            + STEP
            + 'checks = [\n  { status = 200 },\n  { body_contains = "${vu}-${x}" },\n]\n',
            8,
            "scenario.steps[0].checks[1].body_contains",
            "x",
        ),
        (
            HEAD + STEP + 'until = { json = "a", equals = ["${iter}", "${nope}"] }\n',
            6,
            "scenario.steps[0].until.equals",
            "nope",
        ),
        (
            HEAD + '[[endpoints]]\npath = "/"\nchecks = [{ header = "X", contains = "${vu}" }]\n',
            5,
            "endpoints[0].checks[0].contains",
            "vu",
        ),
    ],
)
def test_an_unknown_variable_in_a_check_value_is_refused_naming_line_and_key(
    text: str, line: int, key: str, name: str
) -> None:
    err = profile_error(text)
    assert (err.line, err.key) == (line, key)
    assert f"unknown variable ${{{name}}}" in str(err)


def test_check_values_with_known_variables_are_bound_per_pass() -> None:
    text = HEAD + STEP + 'checks = [{ json = "u", equals = ["u${vu}", 1, { i = "${iter}" }] }]\n'
    (check,) = parse_profile(text, "p.toml").flow.steps[0].checks  # type: ignore[union-attr]
    assert check.templated and check.name == 'json u == ["u${vu}", 1, {"i": "${iter}"}]'
    values = {"vu": "3", "iter": "7"}
    bound = check.bind(lambda t: Template.compile(t).render(values))
    assert bound.expected == ["u3", 1, {"i": "7"}] and not bound.templated
    assert bound.name == check.name  # every pass counts under one name


@pytest.mark.parametrize(
    ("endpoint", "key"),
    [
        ("path = '/items?n=${random(1,100)}'", "endpoints[0].path"),
        ("headers = { x-id = '${uuid}' }", "endpoints[0].headers"),
        ("method = 'POST'\njson = { who = '${vu}' }", "endpoints[0].json"),
    ],
)
def test_an_endpoint_refuses_placeholders_it_would_send_as_text(endpoint: str, key: str) -> None:
    with pytest.raises(ProfileError, match=rf"{re.escape(key)}: \$\{{.*\}} needs a \[flow\] step"):
        parse_profile(HEAD + "[[endpoints]]\n" + endpoint + "\n", "p.toml")


def test_an_endpoint_takes_env_values_bound_at_load() -> None:
    text = HEAD + "[[endpoints]]\npath = '/items/${env.ITEM:-7}'\n"
    (endpoint,) = parse_profile(text, "p.toml", env_vars={}).endpoints
    assert endpoint.path == "/items/7"
