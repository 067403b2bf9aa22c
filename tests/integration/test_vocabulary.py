"""Issue 27's request vocabulary against the real httpbin under gunicorn, in both clients:
httpbin echoes what it got, so each row is judged on what went over the wire.

| row                     | what httpbin shows                                         |
|-------------------------|------------------------------------------------------------|
| form                    | `form` holds the fields, spaces and `&` decoded back       |
| multipart               | `form` the text part, `files` the PNG as a data URL        |
| auth, userinfo          | /basic-auth/u/p answers 200 (401 without the header)      |
| cross-host redirect     | /headers on another host has no Authorization (Go's rule) |
| timeout                 | a step's own deadline, shorter or longer than the profile's |
| checks                  | matches, not_contains, lt/gt on json and duration          |
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from engine.load.controller import Controller
from engine.load.run import RunResult
from engine.profile import parse_profile
from engine.profile.plan import Overrides, build_plan
from engine.report.document import read_report
from tests.conftest import run_surge
from tests.integration.test_k6_crosscheck import K6

CLIENTS = ("wire", "httpx")
PNG = base64.b64decode(  # a 1x1 PNG: not UTF-8, so httpbin echoes it as a data URL
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def _profile(url: str, rest: str, iterations: int = 2) -> str:
    return (
        f'name = "vocab"\nbase_url = "{url}"\n[load]\nexecutor = "per-vu-iterations"\n'
        f"vus = 1\niterations = {iterations}\n{rest}"
    )


async def _run(text: str, source: str = "vocab.toml", **overrides: Any) -> RunResult:
    overrides.setdefault("workers", 1)
    plan = build_plan(parse_profile(text, source), Overrides(**overrides), interval=0.5)
    return await asyncio.wait_for(Controller(plan).run(), 60)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("client", CLIENTS)
async def test_userinfo_in_base_url_is_basic_auth(httpbin: str, client: str) -> None:
    url = httpbin.replace("http://", "http://u:p%40ss@")
    rest = '[[endpoints]]\npath = "/basic-auth/u/p@ss"\nchecks = [{ status = 200 }]\n'
    result = await _run(_profile(url, rest), client=client)
    f = result.model.figures()
    assert f.status == {200: 2} and result.model.checks() == {"status is 200": (2, 0)}
    assert "p%40ss" not in result.plan.work.base_url


@pytest.mark.timeout(120)
@pytest.mark.parametrize("client", CLIENTS)
async def test_a_steps_timeout_replaces_the_profiles(httpbin: str, client: str) -> None:
    """A shorter one ends /delay/2 at its deadline; a longer one lets /delay/1 answer where
    the profile's 0.5 s would have ended it."""
    rest = (
        "[flow]\n"
        '[[flow.steps]]\nname = "short"\npath = "/delay/2"\ntimeout = "0.3s"\n'
        '[[flow.steps]]\nname = "long"\npath = "/delay/1"\ntimeout = "4s"\n'
        '[[flow.steps]]\nname = "plain"\npath = "/delay/1"\n'
    )
    result = await _run(_profile(httpbin, rest, iterations=1), client=client, timeout=0.5)
    model = result.model
    short, long, plain = (model.figures((("step", s),)) for s in ("short", "long", "plain"))
    assert short.errors == {"timeout": 1} and short.latency.max < 480  # not the 500 ms
    assert long.status == {200: 1} and long.failed == 0
    assert plain.errors == {"timeout": 1}


def test_the_shipped_vocabulary_profile_passes_a_smoke_test(
    shared_sut: str, tmp_path: Path
) -> None:
    report = tmp_path / "r.toml"
    proc = run_surge(
        "run", "vocabulary", "--type", "smoke", "--duration", "2s", "--workers", "2",
        "--base-url", shared_sut, "-e", f"UPLOADS={shared_sut.replace('127.0.0.1', 'localhost')}",
        "--report", str(report),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = read_report(report)
    assert all(t.ok for t in data.thresholds)
    assert data.summary.checks_rate == 1.0
    assert list(data.steps) == ["login", "form", "upload"]  # from two worker processes
    assert data.steps["upload"].requests > 0  # on the origin -e named: ${hosts.uploads}


@pytest.mark.timeout(60)
async def test_iteration_order_takes_each_row_once_and_stop_ends_the_run(
    httpbin: str, tmp_path: Path
) -> None:
    (tmp_path / "rows.csv").write_text("name\na\nb\nc\n")
    text = (
        f'name = "rows"\nbase_url = "{httpbin}"\n'
        '[load]\nexecutor = "constant-vus"\nvus = 2\nduration = "20s"\n'
        '[flow]\ndata = "rows.csv"\ndata_order = "iteration"\ndata_end = "stop"\n'
        '[[flow.steps]]\nname = "row"\npath = "/anything/${data.name}"\n'
        'capture = { seen = { json = "url" } }\n'
    )
    result = await _run(text, str(tmp_path / "p.toml"))
    assert result.duration < 10  # ended by the rows, not the 20 s
    assert result.model.figures().requests == 3


@pytest.mark.timeout(60)
@pytest.mark.parametrize("client", CLIENTS)
async def test_an_endpoints_timeout_holds_for_every_request(httpbin: str, client: str) -> None:
    """An endpoint without checks streams its requests on the wire client; one with its
    own timeout goes one at a time under that deadline, the second request too."""
    rest = '[[endpoints]]\npath = "/delay/1"\ntimeout = "0.3s"\n'
    result = await _run(_profile(httpbin, rest), client=client, timeout=5.0)
    f = result.model.figures()
    assert f.errors == {"timeout": 2} and f.latency.max < 1000


@pytest.mark.timeout(60)
@pytest.mark.parametrize("client", CLIENTS)
async def test_http_debug_prints_the_first_iteration_and_changes_no_figure(
    httpbin: str, client: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rest = (
        "[flow]\n"
        '[[flow.steps]]\nname = "a"\nmethod = "POST"\npath = "/post"\nform = { q = "x y" }\n'
        'auth = { basic = ["u", "secret"] }\nchecks = [{ json = "form.q", equals = "x y" }]\n'
        '[[flow.steps]]\nname = "b"\npath = "/redirect-to?url=/get"\n'
    )
    text = _profile(httpbin, rest, iterations=3).replace("vus = 1", "vus = 2")
    plain = await _run(text, client=client)
    capsys.readouterr()
    plan = build_plan(parse_profile(text, "vocab.toml"), Overrides(workers=1), interval=0.5)
    plan = replace(plan, work=replace(plan.work, http_debug="full"))
    debug = await asyncio.wait_for(Controller(plan).run(), 60)
    err = capsys.readouterr().err
    # VU 1's first pass: a, b and b's redirect hop; nothing from VU 2 or a later pass
    assert err.count("Request:\n") == 3 and err.count("Response:\n") == 3
    assert "POST /post HTTP/1.1\n" in err and "\nq=x+y\n" in err  # the body, with =full
    # masked in the request's head (httpbin's echo in the body is the server's)
    assert "Authorization: Basic ***" in err and "Authorization: Basic dTpz" not in err
    assert "HTTP/1.1 302 FOUND" in err.upper() and '"form": {' in err
    for run in (plain, debug):
        f = run.model.figures()
        assert (f.requests, f.failed, f.status) == (18, 0, {200: 12, 302: 6})
        assert run.model.checks() == {'json form.q == "x y"': (6, 0)}


K6_BODY = """
  let r = http.post(`${BASE}/post`, { b: 'x y&z', a: '1' });
  check(r, {
    'form b': (x) => x.json('form.b') === 'x y&z',
    'form a': (x) => x.json('form.a') === '1',
    'ctype': (x) => x.json('headers.Content-Type') === 'application/x-www-form-urlencoded',
  });
  r = http.post(`${BASE}/post`, { note: 'hi', file: http.file(png, 'photo.png', 'image/png') });
  check(r, {
    'note': (x) => x.json('form.note') === 'hi',
    'file': (x) => x.json('files.file') === 'data:image/png;base64,PNG64',
    'mp': (x) => /^multipart\\/form-data; boundary=/.test(x.json('headers.Content-Type')),
  });
  r = http.get('USERINFO/basic-auth/u/p');
  check(r, { 'auth ok': (x) => x.status === 200, 'user': (x) => x.json('user') === 'u' });
  const auth = { headers: { Authorization: 'Basic dTpw' } };
  r = http.get(`${BASE}/redirect-to?url=OTHER/headers`, auth);
  check(r, {
    'dropped on another host': (x) => !x.body.includes('Authorization'),
    'went there': (x) => /^localhost:/.test(x.json('headers.Host')),
  });
  const typed = { headers: { 'Content-Type': 'application/json' } };
  r = http.post(`${BASE}/anything`, JSON.stringify({ n: 3 }), typed);
  check(r, {
    'n < 5': (x) => x.json('json.n') < 5,
    'n > 5': (x) => x.json('json.n') > 5,
    'fast': (x) => x.timings.duration < 5000,
    'body matches': (x) => /"n": 3/.test(x.body),
  });
"""

SURGE_FLOW = """
[flow]
[[flow.steps]]
name = "form"
method = "POST"
path = "/post"
form = { b = "x y&z", a = "1" }
checks = [
  { json = "form.b", equals = "x y&z", name = "form b" },
  { json = "form.a", equals = "1", name = "form a" },
  { json = "headers.Content-Type", equals = "application/x-www-form-urlencoded", name = "ctype" },
]
[[flow.steps]]
name = "upload"
method = "POST"
path = "/post"
multipart = { note = "hi", file = { path = "photo.png", type = "image/png" } }
checks = [
  { json = "form.note", equals = "hi", name = "note" },
  { json = "files.file", equals = "data:image/png;base64,PNG64", name = "file" },
  { json = "headers.Content-Type", matches = "^multipart/form-data; boundary=", name = "mp" },
]
[[flow.steps]]
name = "basic"
path = "USERINFO/basic-auth/u/p"
checks = [{ status = 200, name = "auth ok" }, { json = "user", equals = "u", name = "user" }]
[[flow.steps]]
name = "other host"
path = "/redirect-to?url=OTHER/headers"
headers = { Authorization = "Basic dTpw" }
checks = [
  { body = true, not_contains = "Authorization", name = "dropped on another host" },
  { json = "headers.Host", matches = "^localhost:", name = "went there" },
]
[[flow.steps]]
name = "numbers"
method = "POST"
path = "/anything"
json = { n = 3 }
checks = [
  { json = "json.n", lt = 5, name = "n < 5" },
  { json = "json.n", gt = 5, name = "n > 5" },
  { duration = true, lt = "5s", name = "fast" },
  { body = true, matches = '"n": 3', name = "body matches" },
]
"""


# Surge's own spellings on top of the shared flow: placeholders and the `auth` key.
SURGE_ONLY = """
[[flow.steps]]
name = "form vars"
method = "POST"
path = "/post"
form = { a = "${vu}", n = "${random(7,7)}" }
checks = [
  { json = "form.a", equals = "1", name = "form a var" },
  { json = "form.n", equals = "7", name = "form n" },
]
[[flow.steps]]
name = "upload vars"
method = "POST"
path = "/post"
multipart = { note = "hi ${vu}", file = { path = "photo.png" } }
checks = [
  { json = "form.note", equals = "hi 1", name = "note var" },
  { json = "files.file", matches = "^data:application/octet-stream;base64,", name = "octets" },
]
[[flow.steps]]
name = "auth key"
path = "/redirect-to?url=/basic-auth/u/p"
auth = { basic = ["u", "p"] }
checks = [{ json = "authenticated", equals = true, name = "kept on the same host" }]
[[flow.steps]]
name = "slow"
path = "/get"
checks = [{ duration = true, gt = "10s", name = "slow" }]
"""


def _fill(text: str, httpbin: str) -> str:
    text = text.replace("PNG64", base64.b64encode(PNG).decode())
    text = text.replace("OTHER", f"http://localhost:{urlsplit(httpbin).port}")
    return text.replace("USERINFO", httpbin.replace("http://", "http://u:p@"))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("client", CLIENTS)
async def test_forms_uploads_auth_and_checks_as_httpbin_echoes_them(
    httpbin: str, client: str, tmp_path: Path
) -> None:
    (tmp_path / "photo.png").write_bytes(PNG)
    flow = _fill(SURGE_FLOW + SURGE_ONLY, httpbin)
    result = await _run(_profile(httpbin, flow), str(tmp_path / "p.toml"), client=client)
    checks = result.model.checks()
    failing = {"n > 5", "slow"}
    assert checks == {k: (0, 2) if k in failing else (2, 0) for k in checks}
    assert len(checks) == 20
    f = result.model.figures()
    assert f.failed == 0 and f.errors == {}, f.errors


@pytest.mark.timeout(180)
def test_the_vocabulary_judges_as_k6_on_the_same_server(httpbin: str, tmp_path: Path) -> None:
    """The same requests from k6 (a form object, http.file, user:pass@ in the URL, a
    cross-host redirect, checks as code) and from Surge: every check passes or fails alike,
    judged on what httpbin echoed, and as many requests went out."""
    (tmp_path / "photo.png").write_bytes(PNG)
    summary = tmp_path / "k6.json"
    script = tmp_path / "script.js"
    options = {"executor": "per-vu-iterations", "vus": 1, "iterations": 2}
    script.write_text(
        "import http from 'k6/http';\nimport { check } from 'k6';\n"
        f"const png = open('{tmp_path / 'photo.png'}', 'b');\n"
        f"const BASE = '{httpbin}';\n"
        f"export const options = {{ scenarios: {{ s: {json.dumps(options)} }} }};\n"
        f"export default function () {{{_fill(K6_BODY, httpbin)}}}\n"
        "export function handleSummary(data) {\n"
        f"  return {{ '{summary}': JSON.stringify(data) }};\n}}\n"
    )
    proc = subprocess.run(
        [K6, "run", "--no-usage-report", str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "GOMAXPROCS": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    k6 = json.loads(summary.read_text())
    k6_checks = {c["name"]: (c["passes"], c["fails"]) for c in k6["root_group"]["checks"]}
    result = asyncio.run(
        _run(_profile(httpbin, _fill(SURGE_FLOW, httpbin)), str(tmp_path / "p.toml"))
    )
    assert result.model.checks() == k6_checks
    assert k6_checks["n > 5"] == (0, 2) and k6_checks["file"] == (2, 0)
    assert result.model.figures().requests == k6["metrics"]["http_reqs"]["values"]["count"]


@pytest.mark.timeout(60)
async def test_a_groups_passes_are_timed_as_group_duration(httpbin: str) -> None:
    """Each pass through `checkout` (/delay/0.2 and a 500 that ends the pass) is one
    group_duration sample of at least both steps; thresholds select the group and a
    step's own tag."""
    rest = (
        "[flow]\n"
        '[[flow.steps]]\nname = "home"\npath = "/get"\n'
        '[[flow.steps]]\nname = "cart"\ngroup = "checkout"\npath = "/delay/0.2"\n'
        '[[flow.steps]]\nname = "pay"\ngroup = "checkout"\npath = "/status/${pay}"\n'
        'on_failure = "end_iteration"\n'
        '[[flow.steps]]\nname = "done"\npath = "/get"\n'
    ).replace("${pay}", "${random(500,500)}")
    rest += (
        "[thresholds]\n"
        '"group_duration{group:::checkout}" = ["min>=200"]\n'
        '"http_reqs{group:::checkout}" = ["count==6"]\n'
        '"http_reqs{page:cart}" = ["count==3"]\n'
    )
    rest = rest.replace('path = "/delay/0.2"\n', 'path = "/delay/0.2"\ntags = { page = "cart" }\n')
    result = await _run(_profile(httpbin, rest, iterations=3))
    assert [(s.ok, s.observed) for s in result.model.states] == [
        (True, pytest.approx(result.model.groups()["::checkout"].min)),
        (True, 6),
        (True, 3),
    ]
    groups = result.model.groups()
    assert list(groups) == ["::checkout"]
    g = groups["::checkout"]
    assert g.count == 3 and g.min >= 200  # both steps, the failed one included
    assert result.model.figures((("step", "done"),)).requests == 0  # ended in the group


@pytest.mark.timeout(60)
async def test_thresholds_select_an_endpoints_own_tags(httpbin: str) -> None:
    rest = (
        '[[endpoints]]\nname = "read"\npath = "/get"\ntags = { kind = "read" }\n'
        '[[endpoints]]\nname = "write"\nmethod = "POST"\npath = "/post"\nweight = 0.001\n'
        "[thresholds]\n"
        '"http_reqs{kind:read}" = ["count>=1"]\n'
        '"http_reqs{kind:nosuch}" = ["count>0"]\n'
    )
    result = await _run(_profile(httpbin, rest, iterations=4))
    read = result.model.figures((("step", "read"),)).requests
    assert [(s.ok, s.observed) for s in result.model.states] == [(True, read), (False, 0)]


@pytest.mark.timeout(60)
def test_http_debug_spellings_on_the_command_line(httpbin: str) -> None:
    """`--http-debug URL` keeps the URL as the URL (no optional value to eat it);
    `=full` adds the body; any other value is refused, exit 2."""
    url = httpbin.replace("http://", "http://u:pw@") + "/basic-auth/u/pw"
    quiet = ("--vus", "1", "--iterations", "3", "-q", "--workers", "1")
    heads = run_surge("run", "--http-debug", url, *quiet)
    assert heads.returncode == 0, heads.stderr
    assert heads.stderr.count("Request:\n") == 1 and "GET /basic-auth/u/pw HTTP/1.1" in heads.stderr
    assert "Authorization: Basic ***" in heads.stderr and "u:pw" not in heads.stderr
    assert "HTTP/1.1 200 OK" in heads.stderr and '"authenticated"' not in heads.stderr
    full = run_surge("run", "--http-debug=full", url, *quiet)
    assert full.returncode == 0 and '"authenticated": true' in full.stderr
    bad = run_surge("run", "--http-debug=bodies", url, *quiet)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
