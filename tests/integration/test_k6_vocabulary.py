"""Issue 27's request vocabulary, sent, counted and judged as the real k6 does.

One k6 run and one Surge run of the same flow on the same httpbin (under gunicorn), with
the same command-line flags (`--env NAME=V`, k6's long `-e`; `--tag run=ci`;
`--http-debug=full`): 1 VU x 3 iterations of a form post, a multipart file, a group of
two steps (the second on a `hosts` origin, `localhost:PORT` beside 127.0.0.1), Basic
auth from `user:pass@` and a 1 s timeout on /delay/3, with checks of every new kind and
a data row per iteration (k6: a SharedArray read by `exec.scenario.iterationInTest`).
Requests per tag, checks per name, every threshold's verdict, the exit codes, the
export's sub-metrics and group tree must agree, and httpbin must have echoed the same
form, files, JSON and credentials to both (compared as echoed, never as raw multipart
bytes: Go writes a form's parts in random order).
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from engine.report.document import read_report
from engine.report.model import Report
from tests.conftest import run_surge
from tests.integration.test_k6_crosscheck import K6

# Counts and verdicts judged against k6: run alone, after the parallel part. The first
# test runs both tools (about 8 s each: /delay/3 holds httpbin's one worker).
pytestmark = [pytest.mark.serial, pytest.mark.timeout(120)]

PNG = base64.b64decode(  # a 1x1 PNG: not UTF-8, so httpbin echoes it as a data URL
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
# The same flags on both command lines, and the same process environment (-e wins).
FLAGS = ("--env", "WHO=alice", "--tag", "run=ci", "--http-debug=full")
ENVIRONMENT = {"WHO": "bob", "SRC": "process"}
ITERATIONS = 3
PER_ITERATION = 5  # requests: form, upload, other, auth, slow

THRESHOLDS = {
    "http_reqs{run:ci}": ["count==15"],  # a run tag: every request
    "http_reqs{team:web}": ["count>0"],  # fails: --tag replaces the script's/profile's tags
    "http_reqs{kind:form}": ["count==3"],  # a step's own tag
    "http_reqs{kind:nosuch}": ["count>0"],  # fails: an empty counter is 0
    "http_req_duration{kind:form}": ["p(95)<5000"],
    "http_reqs{group:::g}": ["count==6"],
    "http_req_duration{group:::g}": ["max<5000"],
    "group_duration{group:::g}": ["avg<1000", "max<0.001"],  # the second fails
    "group_duration": ["avg<1000"],
    "checks{run:ci}": ["rate>0.6", "rate>0.9"],  # 23 of 33 pass: the second fails
    "http_req_failed{run:ci}": ["rate<0.1"],  # fails: the timeout is 1 in 5
    "http_req_failed{kind:form}": ["rate==0"],
    "checks{group:::g}": ["rate==1"],  # k6 tags a check with its group
    "iterations{run:ci}": ["count==3"],
    "http_reqs{method:POST}": ["count==9"],
    "http_reqs{kind:form,run:ci}": ["count==3"],
    "http_reqs{scenario:default}": ["count==15"],
    "checks{kind:form}": ["rate==0"],  # passes: a check carries no request tags (not judged)
    "checks{check:auth}": ["rate==1"],
    "group_duration{run:ci}": ["max<0.001"],  # fails: run tags are on group_duration too
    "vus_max{run:ci}": ["value==1"],
    "http_reqs{expected_response:false}": ["count==3"],  # the timeouts
    "http_req_duration{expected_response:false}": ["min>=900"],  # timed: about 1 s each
    "http_reqs{status:0}": ["count==3"],  # k6's status of a request with no response
    "http_reqs{status:200}": ["count==12"],
}

K6_SCRIPT = """
import http from 'k6/http';
import { check, group } from 'k6';
import exec from 'k6/execution';
import { SharedArray } from 'k6/data';
const ROWS = new SharedArray('rows', () => [{ name: 'a' }, { name: 'b' }]);
const png = open('%(png)s', 'b');
const BASE = '%(base)s';
export const options = {
  scenarios: { default: { executor: 'per-vu-iterations', vus: 1, iterations: %(iterations)d } },
  thresholds: %(thresholds)s,
  tags: { team: 'web' },
};
export default function () {
  const row = ROWS[exec.scenario.iterationInTest %% ROWS.length].name;
  const fields = { who: __ENV.WHO, src: __ENV.SRC, note: 'a b&c', n: 3, yes: true, a: ['1', '2'],
                   row: row };
  let r = http.post(`${BASE}/post`, fields, { tags: { kind: 'form' } });
  check(r, {
    'form note': (x) => /^a b&c$/.test(x.json('form.note')),
    'who bob': (x) => /^bob$/.test(x.json('form.who')),
    'row a': (x) => x.json('form.row') === 'a',
  });
  group('g', function () {
    r = http.post(`${BASE}/post`, {
      note: 'hi', file: http.file(png, 'photo.png', 'image/png'), raw: http.file(png, 'raw.png'),
    });
    check(r, { 'png': (x) => !x.json('files.file').includes('octet-stream') });
    r = http.post('%(other)s/anything', JSON.stringify({ n: 3 }),
                  { headers: { 'Content-Type': 'application/json' } });
    check(r, {
      'n < 5': (x) => x.json('json.n') < 5,
      'host': (x) => /^localhost:/.test(x.json('headers.Host')),
    });
  });
  r = http.get('%(userinfo)s/basic-auth/u/p');
  check(r, { 'auth': (x) => x.status === 200 });
  r = http.get(`${BASE}/delay/3`, { timeout: '1s' });
  check(r, {
    'slow': (x) => x.status === 200,
    'dur': (x) => x.timings.duration < 500,
    'dur 5s': (x) => x.timings.duration < 5000,
    'no header': (x) => x.headers['X-Nope'] === undefined,
  });
}
export function handleSummary(data) { return { '%(summary)s': JSON.stringify(data) }; }
"""

SURGE_PROFILE = """
name = "vocab-xc"
base_url = "%(base)s"
hosts = { other = "%(other)s" }
tags = { team = "web" }

[load]
executor = "per-vu-iterations"
vus = 1
iterations = %(iterations)d

[flow]
data = "rows.csv"
data_order = "iteration"  # k6: a SharedArray read by exec.scenario.iterationInTest
[[flow.steps]]
name = "form"
method = "POST"
path = "/post"
tags = { kind = "form" }
checks = [
  { json = "form.note", matches = "^a b&c$", name = "form note" },
  { json = "form.who", matches = "^bob$", name = "who bob" },
  { json = "form.row", equals = "a", name = "row a" },  # rows a, b, a
]
[flow.steps.form]
who = "${env.WHO}"
src = "${env.SRC}"
note = "a b&c"
n = 3
yes = true
a = ["1", "2"]
row = "${data.name}"

[[flow.steps]]
name = "upload"
group = "g"
method = "POST"
path = "/post"
checks = [{ json = "files.file", not_contains = "octet-stream", name = "png" }]
[flow.steps.multipart]
note = "hi"
file = { path = "photo.png", type = "image/png" }
raw = { path = "raw.png" }

[[flow.steps]]
name = "other"
group = "g"
method = "POST"
path = "${hosts.other}/anything"
json = { n = 3 }
checks = [
  { json = "json.n", lt = 5, name = "n < 5" },
  { json = "headers.Host", matches = "^localhost:", name = "host" },
]

[[flow.steps]]
name = "auth"
path = "%(userinfo)s/basic-auth/u/p"
checks = [{ status = 200, name = "auth" }]

[[flow.steps]]
name = "slow"
path = "/delay/3"
timeout = "1s"
checks = [
  { status = 200, name = "slow" },
  { duration = true, lt = "500ms", name = "dur" },
  { duration = true, lt = "5s", name = "dur 5s" },  # k6 times a request that got no answer
  { header = "X-Nope", exists = false, name = "no header" },
]

[thresholds]
%(thresholds)s
"""


def _urls(httpbin: str) -> dict[str, str]:
    return {
        "base": httpbin,
        "other": f"http://localhost:{urlsplit(httpbin).port}",
        "userinfo": httpbin.replace("http://", "http://u:p@"),
    }


def _echoes(messages: list[str]) -> list[dict[str, Any]]:
    """What httpbin echoed, from --http-debug=full's responses (k6's log messages or
    Surge's stderr): per JSON body the fields both tools must have sent alike."""
    decoder, out = json.JSONDecoder(), []
    for text in messages:
        for block in text.split("Response:\n")[1:]:
            body = block.partition("\n\n")[2]
            if not body.startswith("{"):
                continue  # a timeout: no response
            echo = decoder.raw_decode(body)[0]
            headers = echo.get("headers", {})
            out.append(
                {k: echo[k] for k in ("form", "files", "json", "url", "user") if k in echo}
                | {"authenticated": echo.get("authenticated")}
                | {"Host": headers.get("Host")}
                | {"type": headers.get("Content-Type", "").partition(";")[0]}
            )
    return out


def _checks(group: dict[str, Any]) -> Iterator[tuple[str, tuple[int, int]]]:
    """Every check of k6's summary group tree (a list form: handleSummary's)."""
    for c in group["checks"]:
        yield c["name"], (c["passes"], c["fails"])
    for g in group["groups"]:
        yield from _checks(g)


@pytest.fixture(scope="module")
def k6_run(httpbin: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("k6-vocabulary")
    (tmp / "photo.png").write_bytes(PNG)
    summary, export, script = tmp / "summary.json", tmp / "export.json", tmp / "vocab.js"
    script.write_text(
        K6_SCRIPT
        % {
            **_urls(httpbin),
            "png": tmp / "photo.png",
            "iterations": ITERATIONS,
            "thresholds": json.dumps(THRESHOLDS),
            "summary": summary,
        }
    )
    proc = subprocess.run(
        [
            K6,
            "run",
            "--no-usage-report",
            "--log-format=json",
            "--summary-export",
            str(export),
            *FLAGS,
            str(script),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **ENVIRONMENT, "GOMAXPROCS": "1"},
    )
    logs = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    metrics = json.loads(summary.read_text())["metrics"]
    return {
        "code": proc.returncode,
        "metrics": metrics,
        "checks": dict(_checks(json.loads(summary.read_text())["root_group"])),
        "verdicts": {
            (name, expr): res["ok"]
            for name, m in metrics.items()
            for expr, res in m.get("thresholds", {}).items()
        },
        "export": json.loads(export.read_text()),
        "debug": [m["msg"] for m in logs if m.get("source") == "http-debug" and m["iter"] == 0],
    }


@pytest.fixture(scope="module")
def surge_run(httpbin: str, k6_run: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Surge on the same server after k6 (httpbin's one worker serves one at a time)."""
    tmp = tmp_path_factory.mktemp("surge-vocabulary")
    for name in ("photo.png", "raw.png"):
        (tmp / name).write_bytes(PNG)
    (tmp / "rows.csv").write_text("name\na\nb\n")
    profile, report, export = tmp / "vocab.toml", tmp / "r.toml", tmp / "export.json"
    lines = "\n".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in THRESHOLDS.items())
    profile.write_text(
        SURGE_PROFILE % {**_urls(httpbin), "iterations": ITERATIONS, "thresholds": lines}
    )
    with pytest.MonkeyPatch.context() as env:
        for name, value in ENVIRONMENT.items():
            env.setenv(name, value)
        proc = run_surge(
            "run", str(profile), "--report", str(report), "--summary-export", str(export), *FLAGS
        )
    assert proc.returncode in (0, 99), proc.stderr
    return {
        "code": proc.returncode,
        "report": read_report(report),
        "export": json.loads(export.read_text()),
        "debug": proc.stderr,
    }


def test_requests_per_tag_and_checks_per_name_as_k6(k6_run: dict, surge_run: dict) -> None:
    k6, report = k6_run["metrics"], surge_run["report"]
    assert report.summary.requests == k6["http_reqs"]["values"]["count"] == 15
    assert report.summary.failed == k6["http_req_failed"]["values"]["passes"] == ITERATIONS
    assert report.summary.iterations == k6["iterations"]["values"]["count"] == ITERATIONS
    # every sub-metric a threshold names, as each export writes it: counts and rates equal
    # (a rate by a user tag is only its `value` in Surge's: no table keeps it apart)
    ours = surge_run["export"]["metrics"]
    for key, theirs in k6_run["export"]["metrics"].items():
        for field in ("count", "value") if "{" in key else ():
            if field in theirs:
                assert ours[key][field] == pytest.approx(theirs[field], abs=1e-6), key
    assert report.groups["::g"].requests == k6["http_reqs{group:::g}"]["values"]["count"] == 6
    checks = {name: (c.passes, c.fails) for name, c in report.checks.items()}
    assert checks == k6_run["checks"]
    failing, rows = {"who bob", "slow", "dur"}, {"row a": (2, 1)}  # rows a, b, a
    assert checks == {n: rows.get(n, (0, 3) if n in failing else (3, 0)) for n in checks}
    assert len(checks) == 11


def test_every_verdict_and_the_exit_code_as_k6(k6_run: dict, surge_run: dict) -> None:
    report: Report = surge_run["report"]
    verdicts = {(t.metric, t.expression): t.ok for t in report.thresholds}
    assert verdicts == k6_run["verdicts"]
    assert sum(not ok for ok in verdicts.values()) == 6
    assert surge_run["code"] == k6_run["code"] == 99
    # --summary-export: the same sub-metrics with the same verdicts, the same group tree
    ours, theirs = surge_run["export"], k6_run["export"]
    for name, metric in theirs["metrics"].items():
        if "thresholds" in metric:
            assert ours["metrics"][name]["thresholds"] == metric["thresholds"], name
    assert ours["root_group"] == theirs["root_group"]


def test_httpbin_echoed_the_same_form_files_json_and_auth(k6_run: dict, surge_run: dict) -> None:
    echoes = _echoes([surge_run["debug"]])
    assert echoes == _echoes(k6_run["debug"])
    form, upload, other, auth = echoes
    fields = {"who": "alice", "src": "process", "note": "a b&c", "n": "3", "yes": "true"}
    fields |= {"a": ["1", "2"], "row": "a"}
    assert form["form"] == fields  # -e over the environment, a number, a bool, a list
    assert form["type"] == "application/x-www-form-urlencoded"
    png = base64.b64encode(PNG).decode()
    assert upload["files"] == {
        "file": "data:image/png;base64," + png,
        "raw": "data:application/octet-stream;base64," + png,  # no type: k6's default
    }
    assert upload["form"] == {"note": "hi"} and upload["type"] == "multipart/form-data"
    assert other["json"] == {"n": 3} and other["Host"].startswith("localhost:")
    assert auth["authenticated"] is True and auth["user"] == "u"
    # --http-debug masks the credentials (k6 prints them), and the run's figures above
    # are those of a run with the flag: the first iteration printed, nothing more
    err = surge_run["debug"]
    form_body = "\n\na=1&a=2&n=3&note=a+b%26c&row=a&src=process&who=alice&yes=true\n"  # sorted
    assert form_body in err and form_body in k6_run["debug"][0]
    assert err.count("Request:\n") == PER_ITERATION
    assert "Authorization: Basic ***" in err and "dTpw" not in err


@pytest.mark.timeout(60)
def test_once_with_http_debug_shows_each_request_once_and_masks_credentials(
    shared_sut: str,
) -> None:
    """The shipped vocabulary profile as a user checks it: `--once --http-debug`, one
    pass of its flow (log in, a form, an upload), each request and its answer once."""
    proc = run_surge(
        "run", "vocabulary", "--once", "--http-debug", "--base-url", shared_sut, "-q",
        "--workers", "1", "-e", f"UPLOADS={shared_sut.replace('127.0.0.1', 'localhost')}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    requests = [b.splitlines()[0] for b in err.split("Request:\n")[1:]]
    assert requests == ["POST /api/login HTTP/1.1", "POST /echo HTTP/1.1", "POST /echo HTTP/1.1"]
    assert err.count("Response:\nHTTP/1.1 200 OK\n") == 3
    assert "Host: localhost:" in err  # the upload on the origin -e named: ${hosts.uploads}
    # each credential masked, whatever case the profile wrote the header in
    assert re.findall(r"(?im)^authorization: (.*)$", err) == ["Basic ***", "Bearer ***"]
    # heads only: no body, so neither the password (in login's JSON) nor a token shows
    assert "lovelace" not in err and '"token"' not in err
    assert base64.b64encode(b"ada:lovelace").decode() not in err
