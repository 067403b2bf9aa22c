"""Several workloads in one profile (k6's scenarios), setup/teardown, and the values bound
at load: `${env.NAME}`, `${hosts.NAME}`, run tags. Every refusal names file, line, key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.errors import ConfigError
from engine.load.executors import (
    CONSTANT_ARRIVAL_RATE,
    PER_VU_ITERATIONS,
    RAMPING_ARRIVAL_RATE,
    RAMPING_VUS,
)
from engine.load.run import RunPlan
from engine.profile import ProfileError, parse_profile
from engine.profile.plan import (
    Overrides,
    build_plan,
    fit_duration,
    planned_duration,
    replaced_scenarios,
)
from tui.cli.main import build_parser
from tui.cli.run_cmd import BadInput, plan_from_args

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
        (
            HEAD + "[flows.x]\nsteps = []\n",
            "flows.x.steps",
            "expected at least one [[flows.x.steps]] table",
        ),
        (HEAD + "[flows.x]\nsteps = [3]\n", "flows.x.steps[0]", "[[flows.x.steps]]"),
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


# ------------------------------------------------------------------ the run's plan


def plan(text: str = SHOP, **overrides: Any) -> RunPlan:
    return build_plan(parse(text), Overrides(workers=1, **overrides))


def test_each_scenario_becomes_a_lane_with_test_wide_vu_ids() -> None:
    work = plan(tags=(("run", "ci"), ("team", "ops"))).work
    browse, buy, admin = work.scenarios
    assert [(s.name, s.exec, s.start_time, s.vu_base) for s in work.scenarios] == [
        ("browse", "browse", 0.0, 0),
        ("buy", "checkout", 2.0, 2),  # browse may start 2 VUs (its maxVUs)
        ("admin", "", 1.0, 5),  # buy's peak is 3
    ]
    assert (browse.executor.rate, browse.tags, browse.requests) == (20.0, (("kind", "read"),), ())
    assert buy.flow is not None and buy.flow.name == "checkout"
    assert admin.executor.executor == PER_VU_ITERATIONS
    assert work.setup is not None and work.teardown is not None
    assert (work.setup_timeout, work.teardown_timeout) == (10.0, 60.0)
    assert work.run_tags == (("run", "ci"), ("team", "ops"))  # --tag replaces the profile's


def test_a_profile_without_scenarios_makes_the_one_default_lane() -> None:
    text = HEAD + "[[endpoints]]\npath = '/a'\nweight = 3\n[[endpoints]]\npath = '/b'\n"
    (lane,) = plan(text, vus=2, duration=1.0).work.scenarios
    assert (lane.name, lane.executor.vus, lane.weights, lane.vu_base) == (
        "default",
        2,
        (3.0, 1.0),
        0,
    )
    assert [r.name for r in lane.requests] == ["GET /a", "GET /b"]


def test_load_flags_replace_the_scenarios_by_one_default_and_say_so() -> None:
    profile = parse(SHOP)
    o = Overrides(workers=1, vus=4, duration=2.0)
    (lane,) = build_plan(profile, o).work.scenarios
    assert (lane.name, lane.executor.vus, lane.flow) == ("default", 4, profile.flow)
    line = replaced_scenarios(profile, o)
    assert line is not None and "(browse, buy, admin)" in line and "'default'" in line
    assert replaced_scenarios(profile, Overrides()) is None


def test_load_flags_without_a_default_flow_name_exec() -> None:
    text = SHOP.replace('[flow]\nsteps = [{ path = "/api/jobs" }]\n', "")
    text = text.replace('startTime = "1s"\n', 'startTime = "1s"\nexec = "browse"\n')
    with pytest.raises(ConfigError) as info:
        plan(text, iterations=3)
    assert info.value.key == "exec"


def test_scenario_picks_some_and_an_unknown_one_lists_the_names() -> None:
    work = plan(scenarios=("admin", "browse")).work
    assert [(s.name, s.start_time) for s in work.scenarios] == [("browse", 0.0), ("admin", 1.0)]
    assert work.setup is not None  # setup and teardown still run
    with pytest.raises(ConfigError) as info:
        plan(scenarios=("nope",))
    assert info.value.key == "--scenario" and "browse, buy, admin" in info.value.message
    with pytest.raises(ConfigError):
        plan(scenarios=("admin",), vus=3)


def test_a_test_type_scales_each_scenario_around_its_own_peak() -> None:
    browse, buy, admin = plan(test_type="stress", time_scale=0.01).work.scenarios
    assert browse.executor.executor == RAMPING_ARRIVAL_RATE
    assert browse.executor.peak_rate == pytest.approx(35.0)  # 1.75 x 20/s
    assert (buy.executor.executor, buy.executor.peak_vus) == (RAMPING_VUS, 6)  # ceil(1.75 x 3)
    assert buy.start_time == pytest.approx(0.02)  # startTime x the time scale
    assert (admin.executor.iterations, admin.start_time) == (3, 1.0)  # iterations kept
    with pytest.raises(ConfigError):
        plan(test_type="breakpoint")
    (one,) = plan(test_type="breakpoint", scenarios=("browse",)).work.scenarios
    assert one.executor.executor == RAMPING_ARRIVAL_RATE


def test_a_duration_with_a_test_type_fits_all_scenarios_into_it() -> None:
    profile = parse(SHOP)
    o = fit_duration(profile, Overrides(workers=1, test_type="average", duration=30.0))
    assert o.duration is None and o.time_scale is not None
    assert planned_duration(profile, o) == pytest.approx(30.0, rel=0.05)


def test_once_runs_each_scenario_one_iteration_from_zero() -> None:
    work = plan(once=True).work
    assert [
        (s.executor.executor, s.executor.vus, s.executor.iterations) for s in work.scenarios
    ] == [(PER_VU_ITERATIONS, 1, 1)] * 3
    assert {s.start_time for s in work.scenarios} == {0.0}
    assert work.setup is not None and work.teardown is not None
    text = HEAD + "[[endpoints]]\npath = '/a'\nweight = 9\n[[endpoints]]\nmethod = 'POST'\n"
    text += "path = '/b'\njson = { a = 1 }\nchecks = [{ status = 201 }]\n"
    text += "[[endpoints]]\nmethod = 'PUT'\npath = '/c'\nbody = 'hé'\ntimeout = '2s'\n"
    (lane,) = plan(text, once=True).work.scenarios
    assert lane.flow is not None
    assert [s.name for s in lane.flow.steps] == ["GET /a", "POST /b", "PUT /c"]  # each once
    put = lane.flow.steps[2].prepare("http://127.0.0.1:8080", (), {})
    assert put.body == "hé".encode() and put.timeout == 2.0  # the bytes as written
    assert lane.flow.steps[1].checks[0].name == "status is 201"
    wire = lane.flow.steps[1].prepare("http://127.0.0.1:8080", (), {}).wire
    assert wire.startswith(b"POST /b HTTP/1.1\r\n") and wire.endswith(b'{"a":1}')


def test_a_step_on_a_named_host_is_planned() -> None:
    text = HEAD + 'hosts = { auth = "http://127.0.0.1:9443" }\n[flow]\n'
    text += 'steps = [{ path = "${hosts.auth}/token" }]\n'
    (lane,) = plan(text, iterations=1).work.scenarios
    assert lane.flow is not None
    assert (
        lane.flow.steps[0]
        .prepare("http://127.0.0.1:8080", (), {})
        .url.startswith("http://127.0.0.1:9443/token")
    )


# ------------------------------------------------------------------ the command line


def test_env_vars_tags_scenarios_and_once_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_PASSWORD", "from-the-environment")
    monkeypatch.delenv("SHOP_USER", raising=False)
    file = tmp_path / "shop.toml"
    file.write_text(SHOP)
    argv = ["run", str(file), "-e", "QUOTE=q", "--env", "SHOP_USER=bob", "--tag", "run=ci"]
    args = build_parser().parse_args([*argv, "--scenario", "buy", "--once"])
    assert (args.env, args.env_vars) == (None, [("QUOTE", "q"), ("SHOP_USER", "bob")])
    run = plan_from_args(args)
    (buy,) = run.work.scenarios
    assert buy.flow is not None and buy.flow.steps[0].path.parts == ("/cart?who=bob",)
    assert run.work.setup is not None
    login = run.work.setup.steps[0].body
    assert login is not None and "from-the-environment" in login.parts[0]
    assert run.work.run_tags == (("run", "ci"),)  # not the profile's team: k6's precedence
    assert buy.executor.iterations == 1
    args = build_parser().parse_args([*argv, "-d", "2s"])
    assert plan_from_args(args).work.scenarios[0].name == "default"
    note = capsys.readouterr().err
    assert note.startswith("surge run: note: the load flags replace the profile's scenarios")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["-e", "1A=x"], "NAME=VALUE"),
        (["--env-var", "NOEQUALS"], "NAME=VALUE"),
        (["--env", "A B=1"], "NAME=VALUE"),
        (["--tag", "status=500"], "reserved"),
        (["--tag", "run="], "NAME=VALUE"),
    ],
)
def test_bad_variables_and_tags_exit_2_in_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["run", "http://127.0.0.1:9/", *argv])
    assert info.value.code == 2
    first = capsys.readouterr().err.splitlines()[0]
    assert first.startswith("surge run: error: ") and fragment in first


def test_an_unknown_scenario_is_bad_input_listing_the_names(tmp_path: Path) -> None:
    file = tmp_path / "shop.toml"
    file.write_text(SHOP)
    args = build_parser().parse_args(["run", str(file), "-e", "SHOP_PASSWORD=x"])
    args.env_vars.append(("QUOTE", "q"))
    args.scenarios = ["nope"]
    with pytest.raises(
        BadInput, match=r"--scenario: no scenario 'nope' \(scenarios: browse, buy, admin\)"
    ):
        plan_from_args(args)


def test_the_readme_example_of_scenarios_loads() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    blocks = readme.split("```toml\n")
    (block,) = [b.split("```")[0] for b in blocks if "hosts = {" in b.split("```")[0]]
    p = parse(HEAD + block, env_vars={"PASSWORD": "x"})
    assert [(s.name, s.exec, s.start_time) for s in p.scenarios] == [
        ("browse", "browse", 0.0),
        ("buy", "checkout", 10.0),
    ]
    assert p.setup is not None and p.teardown is not None and p.notes == ()


def test_queue_applies_to_every_arrival_rate_scenario() -> None:
    browse, buy, _ = plan(queue=True).work.scenarios
    assert (browse.executor.queue, buy.executor.queue) == (True, False)
    with pytest.raises(ConfigError) as info:
        plan(queue=True, scenarios=("buy", "admin"))
    assert info.value.key == "--queue"


def test_an_env_value_that_a_flow_would_read_as_a_placeholder_is_refused() -> None:
    text = HEAD + 'headers = { x = "${env.V}" }\n[flow]\nsteps = [{ path = "/${env.V}" }]\n'
    err = error(text, env_vars={"V": "a${b}"})
    assert (err.line, err.key) == (5, "flow.steps[0].path")
    assert "reads as a placeholder" in err.message
    plain = HEAD + 'headers = { x = "${env.V}" }\n'  # outside a flow it is only text
    assert parse(plain, env_vars={"V": "a${b}"}).headers == (("x", "a${b}"),)
