"""`surge run` on a profile of two scenarios against `surge sut`: what the plan picks is
what the engine sends, counted exactly (iteration executors, so no timing slack)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import run_surge

PROFILE = """name = "two"
base_url = "%s"
tags = { suite = "it" }

[setup]
[[setup.steps]]
method = "POST"
path = "/api/login"
json = { username = "ada", password = "${env.SHOP_PASSWORD}" }
capture = { token = { json = "token" } }

[teardown]
steps = [{ method = "POST", path = "/api/logout?t=${setup.token}" }]

[scenarios.reads]
executor = "per-vu-iterations"
vus = 2
iterations = 3
exec = "reads"

[scenarios.posts]
executor = "shared-iterations"
vus = 1
iterations = 4
startTime = "300ms"
exec = "posts"
env = { WHO = "buyer" }

[flows.reads]
[[flows.reads.steps]]
name = "items"
path = "/api/items"
headers = { authorization = "Bearer ${setup.token}" }
checks = [{ status = 200 }]

[flows.posts]
[[flows.posts.steps]]
name = "echo"
method = "POST"
path = "/echo"
body = "who=${env.WHO} key=${env.KEY:-none}"
checks = [{ body_contains = "who=buyer key=k1" }]
"""


SECRET = ("-e", "SHOP_PASSWORD=pw-secret")
LOGIN, LOGOUT = "POST /api/login", "POST /api/logout?t=${setup.token}"


def surge_json(file: Path, *flags: str) -> tuple[dict[str, Any], str]:
    proc = run_surge("run", str(file), "--json", "--workers", "1", *SECRET, *flags)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "pw-secret" not in proc.stdout + proc.stderr
    return json.loads(proc.stdout), proc.stderr


def requests_per_step(summary: dict[str, Any]) -> dict[str, int]:
    return {name: step["requests"] for name, step in summary["steps"].items()}


def test_two_scenarios_run_their_own_flows_with_their_own_env(
    shared_sut: str, tmp_path: Path
) -> None:
    file = tmp_path / "two.toml"
    file.write_text(PROFILE % shared_sut)
    summary, _ = surge_json(file, "-e", "KEY=k1")
    assert requests_per_step(summary) == {"items": 6, "echo": 4, LOGIN: 1, LOGOUT: 1}
    assert summary["summary"]["requests"] == 12
    checks = {name: (c["passes"], c["fails"]) for name, c in summary["checks"].items()}
    assert sorted(checks.values()) == [(4, 0), (6, 0)]  # setup's token reached every VU


def test_scenario_once_and_load_flags_pick_what_runs(shared_sut: str, tmp_path: Path) -> None:
    file = tmp_path / "two.toml"
    file.write_text(PROFILE % shared_sut)
    summary, _ = surge_json(file, "--scenario", "reads")
    assert requests_per_step(summary) == {"items": 6, LOGIN: 1, LOGOUT: 1}
    summary, _ = surge_json(file, "--once", "--env", "KEY=k1")
    assert requests_per_step(summary) == {"items": 1, "echo": 1, LOGIN: 1, LOGOUT: 1}
    proc = run_surge("run", str(file), "-i", "3", *SECRET)
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()
    assert line.startswith("surge run: error: exec: load flags replace the scenarios")
    file.write_text(PROFILE % shared_sut + '[flow]\nsteps = [{ name = "d", path = "/" }]\n')
    summary, stderr = surge_json(file, "-i", "3")
    assert requests_per_step(summary) == {"d": 3, LOGIN: 1, LOGOUT: 1}
    assert "the load flags replace the profile's scenarios (reads, posts)" in stderr


def test_an_unset_variable_is_one_line_naming_file_line_and_key(tmp_path: Path) -> None:
    file = tmp_path / "two.toml"
    file.write_text(PROFILE.replace("${env.WHO}", "${env.NOPE}") % "http://127.0.0.1:9")
    proc = run_surge("run", str(file), *SECRET)
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()
    number = PROFILE.splitlines().index('body = "who=${env.WHO} key=${env.KEY:-none}"') + 1
    assert f"{file}:{number}: flows.posts.steps[0].body: " in line
    assert "${env.NOPE} is not set for scenario posts" in line


HOSTS = """name = "hosts"
base_url = "%s"
hosts = { auth = "%s" }

[flow]
[[flow.steps]]
method = "POST"
path = "${hosts.auth}/api/login"
json = { username = "ada", password = "pw" }
capture = { token = { json = "token" } }

[[flow.steps]]
name = "items there"
path = "${hosts.auth}/api/items"
headers = { authorization = "Bearer ${token}" }
checks = [{ status = 200 }]

[[flow.steps]]
name = "items here"
path = "/api/items"
headers = { authorization = "Bearer ${token}" }
expected_statuses = 401
checks = [{ status = 401 }]
"""


def test_steps_on_a_named_host_go_there_and_the_rest_to_base_url(
    sut: Callable[..., str], tmp_path: Path
) -> None:
    home, auth = sut(), sut()
    file = tmp_path / "hosts.toml"
    file.write_text(HOSTS % (home, auth))
    summary, _ = surge_json(file, "-i", "3")
    # The token is the other server's: good there, unknown here (each sut keeps its own).
    checks = {name: (c["passes"], c["fails"]) for name, c in summary["checks"].items()}
    assert sorted(checks.values()) == [(3, 0), (3, 0)]
    assert requests_per_step(summary) == {
        "POST ${hosts.auth}/api/login": 3,
        "items there": 3,
        "items here": 3,
    }
    # One endpoint, on a named host only: nothing listens at base_url.
    file.write_text(
        f'name = "e"\nbase_url = "http://127.0.0.1:9"\nhosts = {{ a = "{auth}" }}\n'
        '[[endpoints]]\npath = "${hosts.a}/"\n'
    )
    summary, _ = surge_json(file, "-i", "4")
    assert summary["summary"]["requests"] == 4 and summary["summary"]["failed"] == 0
