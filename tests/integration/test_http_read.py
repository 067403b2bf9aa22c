"""HTTP read right, against real servers: Debian's nginx and the real httpbin under
gunicorn, with both clients, and the real k6 on the same server where it is cheap.

| case                                           | k6 (1.x)                          |
|------------------------------------------------|-----------------------------------|
| HEAD of a 6.7 kB file (nginx), of /get (httpbin)| 0 failed: the head is the answer |
| 204, 304 (a Content-Length, no body)            | read as they come                 |
| Content-Encoding br (httpbin /brotli)           | decoded: a json check passes      |
| zstd (nginx, a precompressed file)              | (decoded as Surge's other codings)|
| a coding nobody decodes (compress)              | an error kind of its own, named   |
| `${vu}` in a check's value                      | (k6's checks are code)            |
| thresholds on tagged metrics (`{name:s418}`)    | each in --summary-export          |
| a poll out of tries (its answers 200)           | not in http_req_failed            |
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import brotli
import pytest
import zstandard

from engine.load.controller import Controller
from engine.load.run import RunResult
from engine.profile import parse_profile
from engine.profile.plan import Overrides, build_plan
from engine.report.summary import render_summary
from tests.conftest import run_surge
from tests.integration.nginx import HEAD, free_port, running
from tests.integration.test_k6_crosscheck import K6, _k6_count, _k6_metrics

CLIENTS = ("wire", "httpx")
JSON_DOC = b'{"coding": "ok", "pad": "' + b"x" * 4000 + b'"}'
FILE = b"0123456789abcdef\n" * 400

CONF = (
    HEAD
    + """\
    server {{
        listen 127.0.0.1:{port};
        root {www};
        location = /none {{ return 204; }}
        location = /file.txt {{ if_modified_since before; }}
        location = /doc.zst {{
            default_type application/json;
            add_header Content-Encoding zstd;
        }}
        location = /doc.br {{
            default_type application/json;
            add_header Content-Encoding br;
        }}
        location = /doc.Z {{
            default_type application/json;
            add_header Content-Encoding compress;
        }}
    }}
}}
"""
)


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[str]:
    """nginx on a free loopback port serving a file, 204, and precompressed documents."""
    folder, www = tmp_path / "nginx", tmp_path / "www"
    folder.mkdir()
    www.mkdir()
    (www / "file.txt").write_bytes(FILE)
    (www / "doc.zst").write_bytes(zstandard.compress(JSON_DOC))
    (www / "doc.br").write_bytes(brotli.compress(JSON_DOC))
    (www / "doc.Z").write_bytes(b"\x1f\x9d\x90not really LZW")
    port = free_port()
    with running(folder, CONF.format(dir=folder, port=port, www=www), [port]):
        yield f"http://127.0.0.1:{port}"


def _profile(url: str, rest: str, iterations: int = 20) -> str:
    return (
        f'name = "read"\nbase_url = "{url}"\n[load]\nexecutor = "shared-iterations"\n'
        f"vus = 2\niterations = {iterations}\n{rest}"
    )


def _endpoint(path: str, checks: str = "[]", extra: str = "") -> str:
    return f'[[endpoints]]\npath = "{path}"\nchecks = {checks}\n{extra}\n'


async def _run(text: str, **overrides: Any) -> RunResult:
    overrides.setdefault("workers", 1)
    plan = build_plan(parse_profile(text, "read.toml"), Overrides(**overrides), interval=0.5)
    return await asyncio.wait_for(Controller(plan).run(), 30)


HEAD_CHECKS = '[{ status = 200 }, { header = "Content-Length", exists = true }]'


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("checks", ["[]", HEAD_CHECKS], ids=["bare", "checked"])
async def test_head_is_answered_by_its_head_through_nginx_and_gunicorn(
    nginx: str, httpbin: str, client: str, checks: str
) -> None:
    """Content-Length announces the body a GET would get: a HEAD's answer has none. Read
    as a body, nginx's kept-alive connection times out and gunicorn's is reset."""
    for url, path in ((nginx, "/file.txt"), (httpbin, "/get")):
        text = _profile(url, _endpoint(path, checks, 'method = "HEAD"'))
        result = await _run(text, client=client, timeout=2.0)
        f = result.model.figures()
        assert (f.requests, f.failed, f.errors) == (20, 0, {}), (url, f.errors)
        assert f.status == {200: 20}
        if checks != "[]":
            assert set(result.model.checks().values()) == {(20, 0)}


@pytest.mark.timeout(120)
def test_head_counts_as_k6_counts_it(httpbin: str, tmp_path: Path) -> None:
    options = {"executor": "shared-iterations", "vus": 2, "iterations": 20}
    k6 = _k6_metrics(tmp_path, options, f"  http.head('{httpbin}/get');")
    result = asyncio.run(_run(_profile(httpbin, _endpoint("/get", extra='method = "HEAD"'))))
    f = result.model.figures()
    assert _k6_count(k6, "http_reqs") == f.requests == 20
    assert _k6_count(k6, "http_req_failed", "passes") == f.failed == 0


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_204_and_304_have_no_body_whatever_they_announce(
    nginx: str, httpbin: str, client: str, method: str
) -> None:
    future = 'headers = { If-Modified-Since = "Fri, 01 Jan 2100 00:00:00 GMT" }'
    verb = f'method = "{method}"'
    for url, rest in (
        (
            nginx,
            _endpoint("/none", "[{ status = 204 }]", verb)
            + _endpoint("/file.txt", "[{ status = 304 }]", f"{verb}\n{future}"),
        ),
        (
            httpbin,
            _endpoint("/status/204", "[{ status = 204 }]", verb)
            + _endpoint("/status/304", "[{ status = 304 }]", verb),
        ),
    ):
        result = await _run(_profile(url, rest, iterations=30), client=client, timeout=2.0)
        f = result.model.figures()
        assert (f.requests, f.failed, f.errors) == (30, 0, {}), (url, f.errors)
        assert set(f.status) == {204, 304}
        assert sum(p for p, _ in result.model.checks().values()) == 30


BR_CHECKS = '[{ json = "brotli", equals = true }, { body_contains = "Host", name = "body" }]'


@pytest.mark.parametrize("client", CLIENTS)
async def test_brotli_from_httpbin_is_decoded_for_checks(httpbin: str, client: str) -> None:
    result = await _run(_profile(httpbin, _endpoint("/brotli", BR_CHECKS)), client=client)
    f = result.model.figures()
    assert (f.requests, f.failed, f.errors) == (20, 0, {})
    assert result.model.checks() == {"json brotli == true": (20, 0), "body": (20, 0)}


@pytest.mark.timeout(120)
def test_brotli_checks_pass_as_in_k6(httpbin: str, tmp_path: Path) -> None:
    options = {"executor": "shared-iterations", "vus": 1, "iterations": 10}
    body = (
        f"  const r = http.get('{httpbin}/brotli');\n"
        "  check(r, { 'br': (x) => x.json().brotli === true });"
    )
    k6 = _k6_metrics(tmp_path, options, body)
    checks = '[{ json = "brotli", equals = true, name = "br" }]'
    text = _profile(httpbin, _endpoint("/brotli", checks), iterations=10)
    result = asyncio.run(_run(text))
    assert k6["checks"]["values"]["passes"] == result.model.checks()["br"][0] == 10


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("path", ["/doc.zst", "/doc.br"])
async def test_zstd_and_br_files_from_nginx_are_decoded(nginx: str, client: str, path: str) -> None:
    checks = '[{ json = "coding", equals = "ok", name = "doc" }]'
    result = await _run(_profile(nginx, _endpoint(path, checks)), client=client)
    f = result.model.figures()
    assert (f.requests, f.failed, f.errors) == (20, 0, {})
    assert result.model.checks() == {"doc": (20, 0)}


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_coding_surge_cannot_decode_is_an_error_named_not_a_silent_mismatch(
    nginx: str, client: str
) -> None:
    checks = '[{ status = 200 }, { body_contains = "ok", name = "doc" }]'
    result = await _run(_profile(nginx, _endpoint("/doc.Z", checks)), client=client)
    f = result.model.figures()
    assert f.status == {200: 20} and f.failed == 0  # the exchange itself was fine
    assert f.errors == {"content-encoding compress not decoded": 20}
    assert result.model.checks()["doc"] == (0, 20)


async def test_a_check_value_takes_the_variables_a_path_does(httpbin: str) -> None:
    """`equals = "u${vu}"` compares with each VU's own value, not the text `u${vu}`."""
    rest = (
        "[scenario]\n[[scenario.steps]]\n"
        'path = "/response-headers?X-User=u${vu}&X-Iter=${iter}"\n'
        "checks = [\n"
        '  { header = "X-User", equals = "u${vu}", name = "user" },\n'
        '  { json = "X-Iter", equals = "${iter}", name = "iter" },\n'
        '  { body_contains = "u${vu}", name = "body" },\n'
        "]\n"
    )
    result = await _run(_profile(httpbin, rest))
    assert result.model.checks() == {"user": (20, 0), "iter": (20, 0), "body": (20, 0)}


TAGGED = {
    "http_reqs{name:s418}": ["count>5"],
    "http_req_failed{name:s418}": ["rate<0.1"],
    "http_req_duration{name:s418}": ["p(95)<500"],
    "data_sent{name:s418}": ["count>=0"],
}


@pytest.mark.timeout(120)
def test_tagged_thresholds_are_in_the_summary_export_as_k6_writes_them(
    nginx: str, tmp_path: Path
) -> None:
    script = tmp_path / "tagged.js"
    script.write_text(
        "import http from 'k6/http';\n"
        "export const options = { scenarios: { s: { executor: 'shared-iterations', vus: 1,"
        f" iterations: 10 }} }}, thresholds: {json.dumps(TAGGED)} }};\n"
        "export default function () {\n"
        f"  http.get('{nginx}/file.txt', {{ tags: {{ name: 's418' }} }});\n"
        f"  http.get('{nginx}/none');\n"
        "}\n"
    )
    k6_export = tmp_path / "k6.json"
    subprocess.run(
        [K6, "run", "--no-usage-report", "-q", "--summary-export", str(k6_export), str(script)],
        check=True,
        capture_output=True,
        timeout=90,
    )
    profile = tmp_path / "tagged.toml"
    profile.write_text(
        _profile(nginx, "", iterations=10).replace("vus = 2", "vus = 1")
        + '[scenario]\n[[scenario.steps]]\nname = "s418"\npath = "/file.txt"\n'
        + '[[scenario.steps]]\nname = "other"\npath = "/none"\n[thresholds]\n'
        + "".join(f"{json.dumps(k)} = {json.dumps(v)}\n" for k, v in TAGGED.items())
    )
    surge_export = tmp_path / "surge.json"
    proc = run_surge("run", str(profile), "-q", "--summary-export", str(surge_export))
    assert proc.returncode == 0, proc.stderr
    k6, surge = (json.loads(p.read_text())["metrics"] for p in (k6_export, surge_export))
    for key in TAGGED:
        assert set(surge[key]) == set(k6[key]), key  # the same value keys, thresholds too
        assert surge[key]["thresholds"] == k6[key]["thresholds"] == {TAGGED[key][0]: False}
    assert surge["http_reqs{name:s418}"]["count"] == k6["http_reqs{name:s418}"]["count"] == 10
    assert surge["http_req_failed{name:s418}"]["passes"] == 0


async def test_a_poll_out_of_tries_is_named_apart_from_failed_requests(nginx: str) -> None:
    """k6 would count neither poll's 200s as failed; the summary says why its errors
    outnumber http_req_failed."""
    rest = (
        '[scenario]\n[[scenario.steps]]\nname = "wait"\npath = "/file.txt"\n'
        'until = { body_contains = "never", tries = 2, every = "1ms" }\n'
        '[[scenario.steps]]\nname = "gone"\npath = "/missing"\n'
    )
    result = await _run(_profile(nginx, rest, iterations=5).replace("vus = 2", "vus = 1"))
    f = result.model.figures()
    assert (f.requests, f.failed) == (15, 5)
    assert f.errors == {"until: 2 tries": 5, "http 4xx": 5}
    lines = render_summary(result).splitlines()
    until = next(line for line in lines if "until: 2 tries" in line)
    http = next(line for line in lines if "http 4xx" in line)
    assert until.endswith("(not in http_req_failed)") and "http_req_failed" not in http
