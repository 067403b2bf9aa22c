"""Issue 27's request vocabulary, pure: forms as Go encodes them, multipart framing,
template functions, the new checks, credentials, and every refusal one located line."""

from __future__ import annotations

import base64
import random
import re
from pathlib import Path
from typing import Any

import pytest

from engine.http.response import Response
from engine.load.checks import evaluate_checks, judge_unanswered, parse_check
from engine.load.flow import Template
from engine.profile import ProfileError, parse_profile

HEAD = 'name = "t"\nbase_url = "http://127.0.0.1:8080"\n'


def _flow(steps: str, extra: str = "", head: str = HEAD) -> str:
    return f"{head}[flow]\n{extra}{steps}"


def _step(text: str) -> str:
    return f"[[flow.steps]]\n{text}\n"


def _error(text: str, source: str = "p.toml") -> str:
    with pytest.raises(ProfileError) as info:
        parse_profile(text, source)
    return str(info.value)


def _body(step: str, values: dict[str, str] | None = None, source: str = "p.toml") -> bytes:
    flow = parse_profile(_flow(_step(step)), source).flow
    assert flow is not None
    s = flow.steps[0]
    return s.prepare("http://h", (), values or {}).body or b""


def test_a_form_is_encoded_as_gos_url_values() -> None:
    """Fact 12 (k6 probe): `{b:'x y', a:'1'}` -> `a=1&b=x+y`: keys sorted, `+` for a space,
    an array repeats its key, numbers and booleans as Go's %v writes them."""
    body = _body('method = "POST"\nform = { b = "x y", a = "1", c = [1, 2.5], d = true }')
    assert body == b"a=1&b=x+y&c=1&c=2.5&d=true"
    flow = parse_profile(_flow(_step('form = { a = "1" }')), "p.toml").flow
    assert flow is not None
    assert ("content-type", "application/x-www-form-urlencoded") in [
        (k, t.render({})) for k, t in flow.steps[0].headers
    ]


def test_a_forms_placeholder_is_escaped_when_filled_in() -> None:
    step = 'method = "POST"\nform = { "who am" = "${data.name}&co", n = "${random(5,5)}" }'
    text = _flow(_step(step)).replace("[flow]\n", '[flow]\ndata = "u.csv"\n')
    with pytest.raises(ProfileError):  # no such file: the data line is named
        parse_profile(text, "p.toml")
    body = Template.compile("a=${x}", form_escape=True).render({"x": "1 & 2=3"})
    assert body == "a=1+%26+2%3D3"
    assert _body(step.replace("${data.name}", "${vu}"), {"vu": "a b"}) == b"n=5&who+am=a+b%26co"


def test_multipart_frames_text_and_a_file_from_the_profiles_folder(tmp_path: Path) -> None:
    (tmp_path / "photo.png").write_bytes(b"\x89PNG\r\n\x00\xff${x}")
    source = str(tmp_path / "p.toml")
    step = (
        'method = "POST"\n'
        'multipart = { note = "n${vu}", file = { path = "photo.png", type = "image/png" } }'
    )
    body = _body(step, {"vu": "é"}, source)
    boundary = re.match(rb"--(surge[0-9a-f]+)\r\n", body)
    assert boundary is not None
    b = boundary.group(1)
    assert body == (
        b"--" + b + b'\r\nContent-Disposition: form-data; name="note"\r\n\r\nn\xc3\xa9\r\n'
        b"--" + b + b'\r\nContent-Disposition: form-data; name="file"; filename="photo.png"\r\n'
        b"Content-Type: image/png\r\n\r\n\x89PNG\r\n\x00\xff${x}\r\n--" + b + b"--\r\n"
    )


def test_a_multipart_file_outside_the_profiles_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "secret").write_text("x")
    text = _flow(_step('method = "POST"\nmultipart = { f = { path = "../secret" } }'))
    message = _error(text, str(tmp_path / "in" / "p.toml"))
    assert re.search(r"p\.toml:6: flow\.steps\[0\]\.multipart\.f\.path: .*leaves", message)


@pytest.mark.parametrize(
    ("step", "key", "fragment"),
    [
        ('tags = { status = "x" }', "tags.status", "a tag Surge sets itself"),
        ('tags = { expected_response = "x" }', "tags.expected_response", "reserved"),
        ("tags = { page = 1 }", "tags.page", "expected a string"),
        ('group = "a::b"', "group", "no '::'"),
        ('body = "x"\njson = { a = 1 }', "json", "give one of"),
        ('form = { a = "1" }\nmultipart = { a = "1" }', "multipart", "give one of"),
        ('timeout = "0s"', "timeout", "positive"),
        ('auth = { basic = ["u"] }', "auth.basic", "expected"),
        ('auth = { basic = ["u", "p"] }\nheaders = { Authorization = "x" }', "headers", "not both"),
        ('path = "/${random(5,1)}"', "path", "LO <= HI"),
        ('path = "/${nosuch(1)}"', "path", "randstr"),
        ('multipart = { f = "1" }\nheaders = { content-type = "x" }', "multipart", "itself"),
    ],
)
def test_each_mistake_in_a_step_is_one_located_line(step: str, key: str, fragment: str) -> None:
    message = _error(_flow(_step(step)))
    assert f"flow.steps[0].{key}:" in message and fragment in message
    assert re.match(r"p\.toml:\d+: ", message)


def test_reserved_tags_on_an_endpoint_are_refused_too() -> None:
    message = _error(HEAD + '[[endpoints]]\npath = "/"\ntags = { scenario = "x" }\n')
    assert message.startswith("p.toml:5: endpoints[0].tags.scenario: 'scenario' is a tag")


def test_a_groups_steps_follow_one_another() -> None:
    steps = _step('group = "g"') + _step('name = "b"') + _step('name = "c"\ngroup = "g"')
    message = _error(_flow(steps))
    assert "flow.steps[2].group: the steps of group 'g' must follow one another" in message
    ok = _step('group = "g"') + _step('name = "b"\ngroup = "g"') + _step('name = "c"')
    flow = parse_profile(_flow(ok), "p.toml").flow
    assert flow is not None and [s.group for s in flow.steps] == ["g", "g", ""]


def test_data_end_stop_needs_iteration_order(tmp_path: Path) -> None:
    (tmp_path / "u.csv").write_text("name\na\nb\n")
    source = str(tmp_path / "p.toml")
    extra = 'data = "u.csv"\ndata_end = "stop"\n'
    message = _error(_flow(_step('path = "/${data.name}"'), extra), source)
    assert 'flow.data_end: stops when the rows run out in data_order = "iteration"' in message
    extra = 'data = "u.csv"\ndata_order = "iteration"\ndata_end = "stop"\n'
    flow = parse_profile(_flow(_step('path = "/${data.name}"'), extra), source).flow
    assert flow is not None and (flow.data_order, flow.data_end) == ("iteration", "stop")
    assert "data_order: expected one of" in _error(
        _flow(_step("path = '/'"), 'data_order = "row"\n'), source
    )


def test_random_is_inclusive_and_randstr_is_lowercase_alphanumeric() -> None:
    random.seed(7)
    seen = {Template.compile("${random(1,3)}").render({}) for _ in range(200)}
    assert seen == {"1", "2", "3"}
    word = Template.compile("${randstr(8)}").render({})
    assert re.fullmatch(r"[a-z0-9]{8}", word)
    t = Template.compile("/u/${random(1,100)}/${vu}")
    assert t.names == ("vu",) and not t.static


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_userinfo_becomes_basic_auth_and_is_never_in_a_name_or_the_base_url() -> None:
    head = 'name = "t"\nbase_url = "http://ad%40x:s3cret@127.0.0.1:8080/api"\n'
    p = parse_profile(head + '[[endpoints]]\npath = "http://u:pw@127.0.0.1:8080/x"\n', "p.toml")
    assert p.base_url == "http://127.0.0.1:8080/api"
    assert ("Authorization", _basic("ad@x", "s3cret")) in p.headers
    assert p.endpoints[0].name == "GET http://127.0.0.1:8080/x"
    assert ("Authorization", _basic("u", "pw")) in p.endpoints[0].headers
    flow = parse_profile(_flow(_step('auth = { basic = ["u", "${vu}"] }')), "p.toml").flow
    assert flow is not None
    req = flow.steps[0].prepare("http://h", (), {"vu": "7"})
    assert ("Authorization", _basic("u", "7")) in req.headers
    assert "s3cret" not in repr(p.endpoints) + p.base_url + p.name


def _response(body: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None) -> Response:
    return Response(200, headers or [], body)


@pytest.mark.parametrize(
    ("table", "name", "passes"),
    [
        ({"body": True, "matches": r'"id": \d+'}, r'body matches "id": \d+', True),
        ({"body": True, "matches": r"^id$"}, None, False),
        ({"body": True, "not_contains": "error"}, "body does not contain error", True),
        ({"body": True, "not_contains": "id"}, None, False),
        ({"json": "n", "lt": 5}, "json n < 5", True),
        ({"json": "n", "ge": 4}, "json n >= 4", False),
        ({"json": "s", "gt": 1}, None, False),  # a string is not a number
        ({"json": "s", "matches": "^ab"}, "json s matches ^ab", True),
        ({"json": "missing", "exists": False}, "json missing absent", True),
        ({"header": "X-A", "matches": "^v[0-9]$"}, "header X-A matches ^v[0-9]$", True),
        ({"header": "X-A", "not_contains": "v"}, None, False),
        ({"duration": True, "lt": "500ms"}, "duration < 500ms", True),
        ({"duration": True, "ge": "1s"}, "duration >= 1s", False),
    ],
)
def test_the_new_checks_judge_as_written(
    table: dict[str, Any], name: str | None, passes: bool
) -> None:
    check = parse_check(table)
    if name is not None:
        assert check.name == name
    response = _response(b'{"n": 3, "s": "abc", "id": 1}', [(b"X-A", b"v1")])
    assert evaluate_checks([check], response, 0.2) == [passes]


def test_a_request_with_no_response_is_checked_as_k6s_status_0_answer() -> None:
    """A timeout took its second: k6's `timings.duration < 5000` holds, a header that must
    not be there is not; the status and whatever reads the (null) body fail."""
    tables = [
        {"duration": True, "lt": "5s"},
        {"duration": True, "lt": "500ms"},
        {"header": "X-A", "exists": False},
        {"status": 200},
        {"body": True, "not_contains": "x"},
        {"json": "n", "exists": False},
    ]
    checks = [parse_check(t) for t in tables]
    assert judge_unanswered(checks, 1.0) == [True, False, True, False, False, False]


def test_a_check_value_placeholder_is_bound_per_pass() -> None:
    check = parse_check({"body": True, "matches": "u${vu}$"})
    assert check.templated
    bound = check.bind(lambda t: Template.compile(t).render({"vu": "3"}))
    assert evaluate_checks([bound], _response(b"u3"), 0.0) == [True]
    broken = check.bind(lambda t: t.replace("${vu}", "("))  # a value that breaks the regex
    assert evaluate_checks([broken], _response(b"u("), 0.0) == [False]


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ({"body": True}, "needs contains"),
        ({"body": True, "matches": "("}, "bad regex"),
        ({"duration": True}, "needs lt"),
        ({"json": "a", "lt": "x"}, "expected a number"),
        ({"status": 200, "lt": 3}, "not an option"),
    ],
)
def test_a_bad_new_check_is_refused(table: dict[str, Any], fragment: str) -> None:
    from engine.errors import ConfigError

    with pytest.raises(ConfigError, match=re.escape(fragment)):
        parse_check(table)


def test_http_debug_masks_credentials_and_cuts_bodies_at_2kb() -> None:
    from engine.http.debug import FULL, HEADERS, show_request, show_response
    from engine.http.request import prepare

    req = prepare("s", "POST", "http://h/x", [("Authorization", _basic("u", "pw"))], b"a" * 3000)
    text = show_request(req, FULL)
    assert "POST /x HTTP/1.1\nHost: h\n" in text and "Authorization: Basic ***\n" in text
    assert "dTpwdw" not in text and "a" * 2048 + "\n... (952 more bytes)" in text
    assert "aaa" not in show_request(req, HEADERS)
    resp = Response(404, [(b"X-A", b"1")], b"gone")
    assert show_response(resp, None, FULL) == "Response:\nHTTP/1.1 404 Not Found\nX-A: 1\n\ngone\n"
    assert show_response(None, "timeout", HEADERS) == "Response:\n(no response: timeout)\n"


def test_userinfo_in_an_adhoc_url_is_basic_auth() -> None:
    from engine.profile import adhoc_profile

    p = adhoc_profile("http://u:pw@127.0.0.1:9/x")
    assert p.name == "http://127.0.0.1:9/x" and p.base_url == "http://127.0.0.1:9"
    assert p.headers == (("Authorization", _basic("u", "pw")),)


def test_a_group_timer_records_each_pass_through_a_group_by_its_path() -> None:
    from engine.load.flow import GroupTimer

    got: list[tuple[str, int]] = []
    timer = GroupTimer(lambda path, us: got.append((path, us)), "::setup")
    for group in ("", "a", "a", "", "b"):
        timer.enter(group)
    timer.close()
    timer.close()  # once per pass, however often it is closed
    assert [path for path, _ in got] == ["::setup::a", "::setup::b"]
    assert all(us >= 0 for _, us in got)


def test_an_endpoints_tags_and_timeout_reach_its_prepared_request() -> None:
    from engine.profile.plan import Overrides, build_plan

    text = HEAD + '[[endpoints]]\npath = "/"\ntags = { page = "home" }\ntimeout = "2s"\n'
    (req,) = build_plan(parse_profile(text, "p.toml"), Overrides()).work.only.requests
    assert (req.tags, req.timeout) == ((("page", "home"),), 2.0)


def test_a_template_with_functions_crosses_to_a_worker_process() -> None:
    import pickle

    t = Template.compile("${randstr(4)}-${vu}", json_escape=True)
    back = pickle.loads(pickle.dumps(t))
    assert back == t and re.fullmatch(r"[a-z0-9]{4}-7", back.render({"vu": "7"}))


@pytest.mark.parametrize(
    ("url", "bare", "found"),
    [
        ("http://u:p@h:8/x?q=1", "http://u:p@h:8/x?q=1".replace("u:p@", ""), ("u", "p")),
        ("http://h?mail=a@b", "http://h?mail=a@b", None),  # an @ after the authority
        ("https://a%3Ab:c%40d@h", "https://h", ("a:b", "c@d")),
        ("/path@x", "/path@x", None),
    ],
)
def test_userinfo_is_read_from_the_authority_only(
    url: str, bare: str, found: tuple[str, str] | None
) -> None:
    from engine.profile.http_fields import userinfo

    assert userinfo(url) == (bare, found)
