"""Several workloads in one profile (k6's scenarios), setup/teardown, and the values bound
at load: `${env.NAME}`, `${hosts.NAME}`, run tags. Every refusal names file, line, key."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine.load.executors import CONSTANT_ARRIVAL_RATE, PER_VU_ITERATIONS, RAMPING_VUS
from engine.profile import ProfileError, parse_profile

HEAD = 'name = "t"\nbase_url = "http://127.0.0.1:8080"\n'
SHOP = (
    HEAD
    + """tags = { team = "web" }
hosts = { auth = "http://localhost:8080" }

[setup]
timeout = "10s"
[[setup.steps]]
method = "POST"
path = "${hosts.auth}/api/login"
json = { password = "${env.SHOP_PASSWORD}" }
capture = { token = { json = "token" } }

[scenarios.browse]
executor = "constant-arrival-rate"
rate = 20
timeUnit = "1s"
duration = "4s"
preAllocatedVUs = 2
exec = "browse"
tags = { kind = "read" }

[scenarios.buy]
executor = "ramping-vus"
startTime = "2s"
gracefulStop = "1s"
stages = [{ duration = "2s", target = 3 }, { duration = "2s", target = 0 }]
exec = "checkout"
env = { CART = "big" }

[scenarios.admin]
executor = "per-vu-iterations"
vus = 2
iterations = 3
startTime = "1s"

[flows.browse]
steps = [{ path = "/api/items" }]

[flows.checkout]
[[flows.checkout.steps]]
method = "POST"
path = "/cart?who=${env.SHOP_USER:-alice}"
json = { cart = "${env.CART}", quote = "${env.QUOTE}" }
headers = { authorization = "Bearer ${setup.token}" }

[flow]
steps = [{ path = "/api/jobs" }]

[teardown]
steps = [{ method = "POST", path = "/api/logout", headers = { t = "${setup.token}" } }]
"""
)
VARS = {"SHOP_PASSWORD": "s3cret", "QUOTE": 'say "hi"'}


def parse(text: str, **kwargs: Any) -> Any:
    return parse_profile(text, "p.toml", env_vars=kwargs.pop("env_vars", VARS), **kwargs)


def error(text: str, env_vars: dict[str, str] | None = None) -> ProfileError:
    with pytest.raises(ProfileError) as info:
        parse_profile(text, "p.toml", env_vars=VARS if env_vars is None else env_vars)
    assert "\n" not in str(info.value)
    return info.value


def test_a_profile_with_scenarios_reads_each_workload_as_k6_writes_it() -> None:
    p = parse(SHOP)
    assert [s.name for s in p.scenarios] == ["browse", "buy", "admin"]
    browse, buy, admin = p.scenarios
    assert (browse.executor.executor, browse.executor.rate, browse.exec) == (
        CONSTANT_ARRIVAL_RATE,
        20.0,
        "browse",
    )
    assert browse.tags == (("kind", "read"),)
    assert (buy.executor.executor, buy.start_time, buy.executor.graceful_stop) == (
        RAMPING_VUS,
        2.0,
        1.0,
    )
    assert buy.env == (("CART", "big"),)
    assert (admin.executor.executor, admin.start_time, admin.exec) == (PER_VU_ITERATIONS, 1.0, "")
    assert p.load is None
    assert (browse.flow, buy.flow) == (p.flows["browse"], p.flows["checkout"])
    assert admin.flow == p.flow and admin.flow is not None
    assert [s.path.parts[0] for s in admin.flow.steps] == ["/api/jobs"]
    assert (p.tags, p.hosts) == ((("team", "web"),), (("auth", "http://localhost:8080"),))
    assert p.notes == ()


def test_setup_and_teardown_are_flows_with_k6_timeouts() -> None:
    p = parse(SHOP)
    assert p.setup is not None and p.teardown is not None
    assert (p.setup.name, p.setup_timeout, p.teardown.name, p.teardown_timeout) == (
        "setup",
        10.0,
        "teardown",
        60.0,
    )
    (login,) = p.setup.steps
    assert login.path.parts == ("http://localhost:8080/api/login",)
    assert login.body is not None and json.loads(login.body.parts[0]) == {"password": "s3cret"}
    # The default name is the text as written: a secret never becomes a step's name.
    assert login.name == "POST ${hosts.auth}/api/login"


def test_env_binds_per_scenario_json_encoded_and_keeps_names_unsubstituted() -> None:
    (step,) = parse(SHOP).flows["checkout"].steps
    assert step.name == "POST /cart?who=${env.SHOP_USER:-alice}"
    assert step.path.parts == ("/cart?who=alice",)
    assert step.body is not None
    assert json.loads(step.body.parts[0]) == {"cart": "big", "quote": 'say "hi"'}
    assert step.headers[0][1].names == ("setup.token",)
    bob = parse(SHOP, env_vars={**VARS, "SHOP_USER": "bob", "CART": "small"})
    (step,) = bob.flows["checkout"].steps
    assert step.path.parts == ("/cart?who=bob",)  # -e over the default
    assert step.body is not None and json.loads(step.body.parts[0])["cart"] == "big"  # env wins


def test_env_reaches_top_level_strings_and_endpoints() -> None:
    text = (
        'name = "t"\nbase_url = "${env.TARGET:-http://127.0.0.1:9}"\n'
        'headers = { x-key = "${env.KEY}" }\n'
        '[[endpoints]]\npath = "/a?k=${env.KEY}"\n'
    )
    p = parse(text, env_vars={"KEY": "k1"})
    assert (p.base_url, p.headers) == ("http://127.0.0.1:9", (("x-key", "k1"),))
    (endpoint,) = p.endpoints
    assert (endpoint.name, endpoint.path) == ("GET /a?k=${env.KEY}", "/a?k=k1")
    assert parse(text, env_vars={"KEY": "k", "TARGET": "http://h:1"}).base_url == "http://h:1"


def test_a_profile_without_scenarios_reads_as_before() -> None:
    p = parse(HEAD + "[[endpoints]]\npath = '/x'\n")
    assert (p.scenarios, p.flows, p.setup, p.teardown, p.tags, p.hosts) == (
        (),
        {},
        None,
        None,
        (),
        (),
    )


def test_a_flow_no_scenario_runs_is_a_located_note() -> None:
    text = SHOP + '[flows.spare]\nsteps = [{ path = "/s" }]\n'
    (note,) = parse(text).notes
    line = text.splitlines().index("[flows.spare]") + 1
    assert note.startswith(f"p.toml:{line}: flows.spare: no scenario runs this flow")


def scenario(body: str, extra: str = "") -> str:
    return HEAD + '[flow]\nsteps = [{ path = "/" }]\n' + extra + "[scenarios.s]\n" + body


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        (
            scenario(
                'executor = "constant-vus"\nvus = 1\nduration = "1s"\n',
                "[load]\nvus = 1\nduration = '1s'\n",
            ),
            "load",
            "not both",
        ),
        (
            HEAD + 'test_type = "smoke"\n[scenarios.s]\nexecutor = "constant-vus"\n',
            "test_type",
            "not both",
        ),
        (
            HEAD + '[scenarios."a b"]\nexecutor = "constant-vus"\n',
            'scenarios."a b"',
            "bad scenario name",
        ),
        (HEAD + "scenarios = {}\n", "scenarios", "at least one"),
        (scenario("vus = 1\n"), "scenarios.s.executor", "required"),
        (
            scenario('executor = "constant-vus"\nvus = 1\nduration = "1s"\nexec = "nope"\n'),
            "scenarios.s.exec",
            "no flow 'nope'",
        ),
        (
            HEAD + '[scenarios.s]\nexecutor = "constant-vus"\nvus = 1\nduration = "1s"\n',
            "scenarios.s.exec",
            "required",
        ),
        (
            scenario('executor = "constant-vus"\nvus = 1\nduration = "1s"\nstartTime = "-1s"\n'),
            "scenarios.s.startTime",
            "duration",
        ),
        (
            scenario('executor = "constant-vus"\nstartTime = "1s"\nstart_time = "1s"\n'),
            "scenarios.s.start_time",
            "twice",
        ),
        (
            scenario('executor = "constant-vus"\nvus = 1\nduration = "1s"\nrate = 3\n'),
            "scenarios.s.rate",
            "not an option",
        ),
        (
            scenario(
                'executor = "constant-vus"\nvus = 1\nduration = "1s"\ntags = { status = "x" }\n'
            ),
            "scenarios.s.tags.status",
            "reserved",
        ),
        (
            scenario('executor = "constant-vus"\nvus = 1\nduration = "1s"\nenv = { "1A" = "x" }\n'),
            "scenarios.s.env.1A",
            "bad variable name",
        ),
        (HEAD + 'tags = { scenario = "x" }\n', "tags.scenario", "reserved"),
        (HEAD + "tags = { a = 1 }\n", "tags.a", "string"),
        (HEAD + 'hosts = { auth = "ftp://h" }\n', "hosts.auth", "http"),
        (HEAD + '[[endpoints]]\npath = "${hosts.auth}/x"\n', "endpoints[0].path", "unknown host"),
        (HEAD + '[[endpoints]]\npath = "http://other:1/x"\n', "endpoints[0].path", "another host"),
        (
            HEAD + '[flow]\nsteps = [{ path = "/" },\n  { path = "https://other/x/${uuid}" }]\n',
            "flow.steps[1].path",
            "another host",
        ),
        (
            HEAD + '[flow]\nsteps = [{ path = "/${env.NOPE}" }]\n',
            "flow.steps[0].path",
            "NOPE} is not set",
        ),
        ('name = "t"\nbase_url = "${env.NOPE}"\n', "base_url", "is not set"),
        (
            HEAD + '[flow]\nsteps = [{ path = "/${setup.token}" }]\n',
            "flow.steps[0].path",
            "unknown variable",
        ),
        (HEAD + '[setup]\ntimeout = "0s"\nsteps = [{ path = "/" }]\n', "setup.timeout", "positive"),
        (HEAD + "[teardown]\nsteps = []\n", "teardown.steps", "at least one"),
    ],
)
def test_each_refusal_names_file_line_and_key(text: str, key: str, fragment: str) -> None:
    err = error(text)
    assert err.key == key
    assert fragment in err.message
    assert err.line is not None
    assert str(err).startswith(f"p.toml:{err.line}: {key}: ")


def test_an_unset_variable_names_the_scenario_whose_flow_needs_it() -> None:
    text = SHOP.replace('env = { CART = "big" }', "")
    err = error(text)
    line = text.splitlines().index('json = { cart = "${env.CART}", quote = "${env.QUOTE}" }') + 1
    assert (err.line, err.key) == (line, "flows.checkout.steps[0].json.cart")
    assert "for scenario buy" in err.message and "-e CART=VALUE" in err.message


def test_a_named_host_is_an_origin_a_step_may_reach() -> None:
    text = HEAD + 'hosts = { auth = "http://127.0.0.1:9443/" }\n[[endpoints]]\n'
    text += 'path = "${hosts.auth}/token"\n[[endpoints]]\npath = "http://127.0.0.1:9443/b"\n'
    first, second = parse(text).endpoints
    assert (first.name, first.path) == ("GET ${hosts.auth}/token", "http://127.0.0.1:9443/token")
    assert second.path == "http://127.0.0.1:9443/b"
