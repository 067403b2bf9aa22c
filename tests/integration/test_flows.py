"""Flow load tests: multi-step flows, captured values, polling, data rows, weights."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from engine.http.response import Response
from engine.load.controller import Controller
from engine.load.flow import Capture, Template
from engine.load.worker import Worker
from engine.profile import ProfileError, load_profile, parse_profile
from engine.profile.plan import Overrides, build_plan
from engine.report.document import read_report
from tests.conftest import ROOT, run_surge

HEAD = 'name = "t"\nbase_url = "http://127.0.0.1:9"\n'

LOGIN = """
[[scenario.steps]]
name = "login"
method = "POST"
path = "/api/login"
json = { username = "u", password = "p" }
capture = { token = { json = "%s" } }
"""
ITEMS = """
[[scenario.steps]]
name = "items"
path = "/api/items"
headers = { authorization = "Bearer ${token}" }
checks = [{ status = 200 }]
"""


def test_templates_render_values_and_escape_json() -> None:
    t = Template.compile("/jobs/${job}?u=${data.user}")
    assert t.names == ("job", "data.user")
    assert t.render({"job": "42", "data.user": "ada"}) == "/jobs/42?u=ada"
    body = Template.compile('{"name":"${who}"}', json_escape=True)
    assert body.render({"who": 'a"b'}) == '{"name":"a\\"b"}'
    assert len(Template.compile("${uuid}").render({})) == 32
    assert Template.compile("/static").static


@pytest.mark.parametrize(
    ("kind", "expr", "value"),
    [
        ("json", "token", "abc"),
        ("json", "items.1.id", "2"),
        ("json", "missing", None),
        ("json", "ok", "true"),
        ("header", "Location", "/jobs/7"),
        ("regex", r"id=(\d+)", "99"),
        ("regex", r"nothing(\d)", None),
    ],
)
def test_captures(kind: str, expr: str, value: str | None) -> None:
    resp = Response(
        200,
        [(b"location", b"/jobs/7")],
        b'{"token": "abc", "ok": true, "items": [{"id": 1}, {"id": 2}], "x": "id=99"}',
    )
    assert Capture("v", kind, expr).extract(resp) == value


def test_each_vu_gets_its_own_data_row_and_id(tmp_path: Path) -> None:
    (tmp_path / "users.csv").write_text("user\na\nb\nc\n")
    text = HEAD + '[scenario]\ndata = "users.csv"\n[[scenario.steps]]\npath = "/u/${data.user}"\n'
    (tmp_path / "p.toml").write_text(text)
    profile = load_profile(tmp_path / "p.toml")
    plan = build_plan(profile, Overrides(vus=4, duration=1.0, workers=2))
    from engine.load.split import split_plan

    seen = []
    for part in split_plan(plan.work, 2):
        worker = Worker(part)
        for _ in range(part.only.executor.vus):
            vu = worker._new_vu()
            seen.append((vu.values["vu"], vu.values["data.user"]))
    assert sorted(seen) == [("1", "a"), ("2", "b"), ("3", "c"), ("4", "a")]


@pytest.mark.parametrize(
    ("body", "key", "message"),
    [
        (ITEMS, "scenario.steps[0].headers.authorization", "unknown variable ${token}"),
        (
            LOGIN % "token" + ITEMS.replace("${token}", "${tokn}"),
            "scenario.steps[1].headers.authorization",
            "unknown variable ${tokn}",
        ),
        ('[[scenario.steps]]\npath = "/${data.x}"\n', "scenario.steps[0].path", "unknown variable"),
        (
            '[[scenario.steps]]\ncapture = { t = { xpath = "a" } }\n',
            "scenario.steps[0].capture.t",
            "exactly one of",
        ),
        (
            '[[scenario.steps]]\ncapture = { t = { regex = "(" } }\n',
            "scenario.steps[0].capture.t.regex",
            "bad regex",
        ),
        (
            '[[scenario.steps]]\nuntil = { json = "s", equals = 1, tries = 0 }\n',
            "scenario.steps[0].until.tries",
            "whole number",
        ),
        ('[[scenario.steps]]\nthink = "2s-1s"\n', "scenario.steps[0].think", "backwards"),
        ('[[scenario.steps]]\nwait = "1s"\n', "scenario.steps[0].wait", "unknown key"),
        ("[scenario]\n", "scenario.steps", "at least one"),
        ('[[scenario.steps]]\non_failure = "stop"\n', "scenario.steps[0].on_failure", "one of"),
        (
            '[scenario]\non_failure = true\n[[scenario.steps]]\npath = "/"\n',
            "scenario.on_failure",
            "expected one of 'continue', 'end_iteration', got boolean True",
        ),
        (
            '[[scenario.steps]]\nexpected_statuses = "200-99"\n',
            "scenario.steps[0].expected_statuses",
            "bad status range",
        ),
    ],
)
def test_scenario_errors_name_file_line_and_key(body: str, key: str, message: str) -> None:
    text = HEAD + ("" if body.startswith("[scenario]") else "[scenario]\n") + body
    with pytest.raises(ProfileError) as err:
        parse_profile(text, "flow.toml")
    assert err.value.key == key
    assert message in err.value.message
    assert err.value.line is not None
    # The line shown is where the key is written (a missing key: its table's header).
    needle = "[scenario]" if key == "scenario.steps" else key.split(".")[-1].split("[")[0]
    assert needle in text.splitlines()[err.value.line - 1]


async def _run_flow(url: str, text: str, tmp_path: Path, **overrides: object):
    path = tmp_path / "flow.toml"
    path.write_text(text)
    profile = load_profile(path, base_url=url)
    plan = build_plan(profile, Overrides(**overrides), interval=0.5)  # type: ignore[arg-type]
    return await asyncio.wait_for(Controller(plan).run(), 30)


async def test_captured_values_reach_later_steps(shared_sut: str, tmp_path: Path) -> None:
    result = await _run_flow(
        shared_sut,
        HEAD + "[scenario]\n" + LOGIN % "token" + ITEMS,
        tmp_path,
        iterations=10,
        vus=2,
    )
    items = result.model.figures((("step", "items"),))
    assert items.status == {200: 10}
    assert result.model.checks() == {"status is 200": (10, 0)}


async def test_a_broken_capture_shows_as_401s_of_the_next_step(
    shared_sut: str, tmp_path: Path
) -> None:
    # Captures the user name instead of the token: the next step is refused.
    result = await _run_flow(
        shared_sut,
        HEAD + "[scenario]\n" + LOGIN % "user" + ITEMS,
        tmp_path,
        iterations=10,
        vus=2,
    )
    items = result.model.figures((("step", "items"),))
    assert items.status == {401: 10}
    assert items.errors == {"http 4xx": 10}
    assert result.model.checks() == {"status is 200": (0, 10)}
    from engine.report.summary import render_summary

    text = render_summary(result)
    assert "█ STEPS" in text and re.search(r"^\s+items\s+\d+\s", text, re.M)
    assert re.search(r"^\s+http 4xx\s+10\s", text, re.M), text


async def test_a_failed_capture_ends_the_iteration(shared_sut: str, tmp_path: Path) -> None:
    result = await _run_flow(
        shared_sut,
        HEAD + "[scenario]\n" + LOGIN % "nope" + ITEMS,
        tmp_path,
        iterations=6,
        vus=2,
    )
    assert result.model.figures((("step", "login"),)).errors == {"capture token": 6}
    assert "items" not in result.model.steps()
    assert result.model.total.iterations == 6


POLL = """
[[scenario.steps]]
name = "job"
method = "POST"
path = "/api/jobs"
headers = { authorization = "Bearer ${token}" }
capture = { job = { json = "id" } }
[[scenario.steps]]
name = "poll"
path = "/api/jobs/${job}"
headers = { authorization = "Bearer ${token}" }
until = { json = "status", equals = "done", tries = %d, every = "50ms" }
[[scenario.steps]]
name = "after"
path = "/"
"""


async def test_polling_stops_when_its_condition_holds(sut, tmp_path: Path) -> None:
    url = sut("--job-duration", "300ms")
    result = await _run_flow(
        url, HEAD + "[scenario]\n" + LOGIN % "token" + POLL % 50, tmp_path, iterations=2, vus=2
    )
    polls = result.model.figures((("step", "poll"),)).requests
    assert 2 * 4 <= polls <= 2 * 9  # ~300 ms of 50 ms polls each, then done
    assert result.model.figures((("step", "after"),)).requests == 2
    # The wait shows in the iteration's duration.
    assert result.model.figures().requests > 0
    from engine.load.model import LatencyStats

    it = LatencyStats.of(result.model.total.iteration_duration, result.model.total.iteration_sum)
    assert it.min >= 250


@pytest.mark.parametrize("on_failure", ["continue", "end_iteration"])
async def test_polling_stops_at_its_limit(sut, tmp_path: Path, on_failure: str) -> None:
    url = sut("--job-duration", "60s")
    text = HEAD + f'[scenario]\non_failure = "{on_failure}"\n' + LOGIN % "token" + POLL % 3
    result = await _run_flow(url, text, tmp_path, iterations=2, vus=1)
    poll = result.model.figures((("step", "poll"),))
    assert poll.requests == 6
    assert poll.errors == {"until: 3 tries": 2}
    if on_failure == "continue":  # k6's way: the next step runs
        assert result.model.figures((("step", "after"),)).requests == 2
    else:
        assert "after" not in result.model.steps()
    assert result.model.total.iterations == 2


GOES_ON = """
[[scenario.steps]]
name = "missing"
path = "/status/404"
checks = [{ status = 404 }]
[[scenario.steps]]
name = "slow"
path = "/delay/400"
[[scenario.steps]]
name = "last"
path = "/"
checks = [{ status = 200 }]
"""


@pytest.mark.parametrize(
    ("extra", "last", "failed"),
    [
        ("", 6, 12),  # the 404 and the timeout both fail; every step runs
        ('on_failure = "end_iteration"\n', 0, 6),  # ends at the 404, as before
    ],
)
async def test_a_flow_goes_on_after_a_failed_step(
    shared_sut: str, tmp_path: Path, extra: str, last: int, failed: int
) -> None:
    text = HEAD + 'timeout = "150ms"\n[scenario]\n' + extra + GOES_ON
    result = await _run_flow(shared_sut, text, tmp_path, iterations=6, vus=2)
    model = result.model
    assert model.figures((("step", "missing"),)).status == {404: 6}
    assert model.total.iterations == 6
    assert model.figures().failed == failed
    if last:
        assert model.figures((("step", "slow"),)).errors == {"timeout": 6}
        assert model.figures((("step", "last"),)).status == {200: last}
        assert model.checks() == {"status is 404": (6, 0), "status is 200": (6, 0)}
    else:
        assert "slow" not in model.steps() and "last" not in model.steps()


async def test_expected_statuses_per_step_and_end_iteration_per_step(
    shared_sut: str, tmp_path: Path
) -> None:
    text = (
        HEAD
        + 'timeout = "150ms"\n[scenario]\n'
        + GOES_ON.replace(
            "checks = [{ status = 404 }]", 'checks = [{ status = 404 }]\nexpected_statuses = "404"'
        ).replace('path = "/delay/400"', 'path = "/delay/400"\non_failure = "end_iteration"')
    )
    result = await _run_flow(shared_sut, text, tmp_path, iterations=4, vus=2)
    model = result.model
    assert model.figures((("step", "missing"),)).failed == 0  # expected here
    assert model.figures((("step", "slow"),)).failed == 4
    assert "last" not in model.steps()
    assert model.figures().failed == 4


async def test_a_failed_step_leaves_its_captures_empty_and_the_flow_goes_on(
    shared_sut: str, tmp_path: Path
) -> None:
    # A wrong password: login answers 401, `token` is empty, items is sent and refused.
    login = LOGIN.replace('password = "p"', 'password = "wrong"')
    result = await _run_flow(
        shared_sut, HEAD + "[scenario]\n" + login % "token" + ITEMS, tmp_path, iterations=4, vus=2
    )
    model = result.model
    assert model.figures((("step", "login"),)).errors == {"http 4xx": 4}  # no capture error
    assert model.figures((("step", "items"),)).status == {401: 4}
    assert model.checks() == {"status is 200": (0, 4)}


async def test_weights_are_honoured_within_a_few_percent(shared_sut: str) -> None:
    profile = load_profile(ROOT / "profiles" / "example.toml", base_url=shared_sut)
    plan = build_plan(profile, Overrides(iterations=4000, vus=8), interval=0.5)
    result = await asyncio.wait_for(Controller(plan).run(), 30)
    home = result.model.figures((("step", "home"),)).requests
    echo = result.model.figures((("step", "echo"),)).requests
    assert home + echo == 4000
    assert abs(home / 4000 - 0.75) < 0.03


@pytest.mark.parametrize(
    ("profile", "extra"),
    [("example.toml", ["--duration", "1s"]), ("user-flow.toml", ["--duration", "4s"])],
)
def test_shipped_profiles_pass_a_smoke_test(
    shared_sut: str, tmp_path: Path, profile: str, extra: list[str]
) -> None:
    report = tmp_path / "r.toml"
    proc = run_surge(
        "run",
        f"profiles/{profile}",
        "--type",
        "smoke",
        "--base-url",
        shared_sut,
        "--report",
        str(report),
        *extra,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = read_report(report)
    assert all(t.ok for t in data.thresholds)
    assert data.summary.checks_rate == 1.0
    if profile == "user-flow.toml":
        assert list(data.steps) == ["login", "start job", "poll job", "items", "item", "logout"]
        assert data.steps["logout"].requests >= 3


# ---------------------------------------------------------------- data files
def test_a_relative_data_file_may_not_leave_the_profiles_folder(tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    folder.mkdir()
    (tmp_path / "secret.csv").write_text("password\nhunter2\n")
    (folder / "link.csv").symlink_to(tmp_path / "secret.csv")
    for data in ("../secret.csv", "link.csv"):
        (folder / "p.toml").write_text(
            HEAD + f'[scenario]\ndata = "{data}"\n[[scenario.steps]]\npath = "/"\n'
        )
        with pytest.raises(ProfileError) as info:
            load_profile(folder / "p.toml")
        assert f"p.toml:{HEAD.count(chr(10)) + 2}: scenario.data:" in str(info.value)
        assert "leaves the profile's folder" in str(info.value)
        assert "hunter2" not in str(info.value) and "password" not in str(info.value)


def test_no_error_quotes_a_data_files_content(tmp_path: Path) -> None:
    """A file that is not data (here, shadow-like lines) is never echoed in an error."""
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$s3cr3t$hash:19000:0:99999:7:::\nbin:*:19000:0:99999:7:::\n")
    text = HEAD + f'[scenario]\ndata = "{secret}"\n[[scenario.steps]]\npath = "/${{nope}}"\n'
    (tmp_path / "p.toml").write_text(text)
    with pytest.raises(ProfileError) as info:
        load_profile(tmp_path / "p.toml")
    assert "unknown variable ${nope}" in str(info.value)
    assert "s3cr3t" not in str(info.value) and "99999" not in str(info.value)
    assert "1 data columns" in str(info.value)
