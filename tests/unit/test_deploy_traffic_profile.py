"""`[[deploy.routes]]`, `mirror_methods`, cohort and mirror steps in a profile
(engine.profile.deploy_traffic): read into typed values, every mistake located."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from engine.deploy.strategies import CohortStep, MirrorStep, WeightStep
from engine.deploy.strategies.traffic import IDEMPOTENT, Route, RouteKind
from engine.errors import ConfigError
from engine.profile import parse_deploy
from engine.profile.loader import ProfileError, parse_profile

URLS = {"blue": ["http://127.0.0.1:1"], "green": ["http://127.0.0.1:2"]}
BETA = {"header": "x-beta", "value": "1", "color": "green"}
QA = {"cookie": "team", "regex": "qa-.*", "color": "green", "cohort": "qa"}
COHORT = {**URLS, "routes": [BETA], "steps": ["cohort", 50]}


def test_routes_and_steps_read_as_typed_values() -> None:
    plan = parse_deploy(
        {
            **URLS,
            "routes": [BETA, QA],
            "steps": ["cohort", {"mirror": 100, "for": "30s"}, {"mirror": 20}, 10, 100],
            "mirror_methods": ["get", "POST"],
            "interval": "5s",
        }
    )
    assert plan.routes == (
        Route(RouteKind.HEADER, "x-beta", "green", value="1"),
        Route(RouteKind.COOKIE, "team", "green", regex="qa-.*", cohort="qa"),
    )
    assert plan.options["steps"] == (
        CohortStep(),
        MirrorStep(100, 30.0),
        MirrorStep(20, None),
        WeightStep(10),
        WeightStep(100),
    )
    assert plan.mirror_methods == ("GET", "POST")
    strategy = plan.build()
    d = strategy.start(0.0)
    assert (d.routes_on, d.mirror, strategy.due) == (True, 0, 5.0)


def test_defaults_leave_old_profiles_as_they_were() -> None:
    plan = parse_deploy({**URLS, "steps": [10, 50]})
    assert (plan.routes, plan.mirror_methods) == ((), IDEMPOTENT)
    assert parse_deploy({**URLS, "steps": [{"mirror": 50}, 10]}).mirror_methods == IDEMPOTENT


@pytest.mark.parametrize(
    ("table", "key", "message"),
    [
        ({**URLS, "steps": ["cohort", 50]}, "deploy.steps[0]", "needs [[deploy.routes]]"),
        ({**URLS, "routes": [BETA], "steps": [10]}, "deploy.routes", 'add "cohort" to steps'),
        ({**URLS, "routes": [BETA]}, "deploy.routes", 'add "cohort" to steps'),
        ({**COHORT, "steps": ["cohort", "cohort"]}, "deploy.steps[1]", "one cohort step"),
        ({**URLS, "steps": ["mirror"]}, "deploy.steps[0]", '"cohort" or { mirror = 100 }'),
        ({**URLS, "steps": [{"mirror": 0}]}, "deploy.steps[0].mirror", "1..100"),
        ({**URLS, "steps": [{"for": "5s"}]}, "deploy.steps[0].mirror", "required"),
        ({**URLS, "steps": [{"mirror": 5, "fro": "5s"}]}, "deploy.steps[0].fro", "did you mean"),
        ({**URLS, "steps": [{"mirror": 5, "for": "x"}]}, "deploy.steps[0].for", "duration"),
        ({**URLS, "steps": [50, {"mirror": 5}, 10]}, "deploy.steps[2]", "must increase"),
        (
            {**URLS, "router": "haproxy", "steps": [{"mirror": 100}, 50]},
            "deploy.steps[0]",
            "HAProxy has no request mirroring",
        ),
        ({**URLS, "mirror_methods": ["GET"]}, "deploy.mirror_methods", "with a mirror step"),
        (
            {**URLS, "steps": [{"mirror": 5}], "mirror_methods": ["G E T"]},
            "deploy.mirror_methods[0]",
            "HTTP method",
        ),
        ({**COHORT, "routes": [{**BETA, "regex": "("}]}, "deploy.routes[0]", "one of value"),
        (
            {**COHORT, "routes": [{"header": "x", "regex": "(", "color": "green"}]},
            "deploy.routes[0].regex",
            "bad regex '('",
        ),
        ({**COHORT, "routes": [{**BETA, "color": "red"}]}, "deploy.routes[0].color", "blue"),
        ({**COHORT, "routes": [{**BETA, "query": "q"}]}, "deploy.routes[0]", "one of header"),
        ({**COHORT, "routes": [{**BETA, "colour": "g"}]}, "deploy.routes[0].colour", "unknown"),
        ({**COHORT, "routes": [{"header": "x", "value": "1"}]}, "deploy.routes[0].color", "req"),
        ({**COHORT, "routes": []}, "deploy.routes", "expected [[deploy.routes]]"),
        (
            {**URLS, "strategy": "linear", "percent": 5, "every": "1m", "routes": [BETA]},
            "deploy.routes",
            "does not apply to strategy 'linear'",
        ),
    ],
)
def test_mistakes_name_their_key(table: dict[str, Any], key: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_deploy(table)
    assert err.value.key == key
    assert message in err.value.message


def test_a_bad_regex_names_its_line() -> None:
    text = (
        'name = "t"\nbase_url = "http://127.0.0.1:1"\n[[endpoints]]\npath = "/"\n'
        "[deploy]\nblue = ['http://127.0.0.1:1']\ngreen = ['http://127.0.0.1:2']\n"
        'steps = ["cohort", 50]\n'
        '[[deploy.routes]]\nheader = "x-beta"\ncolor = "green"\nregex = "[a-"\n'
    )
    with pytest.raises(ProfileError) as err:
        parse_profile(text, "p.toml")
    assert err.value.key == "deploy.routes[0].regex"
    assert text.splitlines()[err.value.line - 1] == 'regex = "[a-"'
    assert str(err.value).startswith(f"p.toml:{err.value.line}: deploy.routes[0].regex: bad regex")


def test_the_readmes_example_reads() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Cohorts and mirroring", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    table = tomllib.loads(example)["deploy"]
    plan = parse_deploy({**URLS, **table})
    assert plan.routes[0].cohort == "beta" and plan.options["steps"][0] == MirrorStep(100, 30.0)
