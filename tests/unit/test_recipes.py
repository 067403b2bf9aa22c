"""A color of [deploy] as a recipe: parsed into typed values, each mistake one located line."""

from __future__ import annotations

import pytest

from engine.deploy.recipe import Health, Recipe
from engine.profile import ProfileError, parse_profile

HEAD = 'name = "t"\nbase_url = "http://127.0.0.1:8080"\n[deploy]\nstrategy = "rolling"\n'
CMD = '["app", "--port", "{port}", "--name", "{instance}"]'


def recipes(blue: str, green: str, extra: str = "") -> str:
    return HEAD + extra + f"[deploy.blue]\n{blue}\n[deploy.green]\n{green}\n"


def error(text: str) -> ProfileError:
    with pytest.raises(ProfileError) as info:
        parse_profile(text, "p.toml")
    return info.value


def test_a_recipe_is_parsed_with_its_defaults() -> None:
    text = recipes(
        f"command = {CMD}\ninstances = 3",
        f'command = {CMD}\ninstances = 3\nhealth = {{path = "/ready", timeout = "3s"}}\n'
        'env = {MODE = "{instance}"}\nworkdir = "/tmp"\nstop_grace = "2s"',
    )
    plan = parse_profile(text, "p.toml").deploy
    assert plan is not None and plan.blue == () and plan.instances("blue") == 3
    blue, green = plan.recipes["blue"], plan.recipes["green"]
    assert blue == Recipe(("app", "--port", "{port}", "--name", "{instance}"), 3)
    assert blue.health == Health("/health", 10.0) and blue.stop_grace == 5.0
    assert green.health == Health("/ready", 3.0) and green.workdir == "/tmp"
    assert green.argv(8123, "green-1") == ["app", "--port", "8123", "--name", "green-1"]
    assert green.environment(8123, "green-1") == {"MODE": "green-1"}
    assert plan.build().instances == 3


def test_a_brace_that_is_no_placeholder_stays_as_written() -> None:
    r = Recipe(("app", "--port", "{port}", '{"a": 1}'))
    assert r.argv(1, "blue-0")[-1] == '{"a": 1}'


@pytest.mark.parametrize(
    ("blue", "green", "extra", "line", "key", "words"),
    [
        (
            f"command = {CMD}\ncomand = 1",
            f"command = {CMD}",
            "",
            7,
            "deploy.blue.comand",
            "did you mean 'command'?",
        ),
        (
            'command = "app --port {port}"',
            f"command = {CMD}",
            "",
            6,
            "deploy.blue.command",
            "list of strings (argv, no shell)",
        ),
        (
            'command = ["app", "--port", "{prot}"]',
            f"command = {CMD}",
            "",
            6,
            "deploy.blue.command[2]",
            "did you mean 'port'?",
        ),
        ('command = ["app"]', f"command = {CMD}", "", 6, "deploy.blue.command", "must pass {port}"),
        (
            f"command = {CMD}\ninstances = 0",
            f"command = {CMD}",
            "",
            7,
            "deploy.blue.instances",
            "1..64",
        ),
        (
            f"command = {CMD}",
            f'command = {CMD}\nhealth = {{path = "ready"}}',
            "",
            9,
            "deploy.green.health.path",
            "must start with /",
        ),
        (
            f"command = {CMD}",
            f'command = {CMD}\nhealth = {{timout = "1s"}}',
            "",
            9,
            "deploy.green.health.timout",
            "did you mean 'timeout'?",
        ),
        (
            f"command = {CMD}",
            f"command = {CMD}\nstop_grace = -1",
            "",
            9,
            "deploy.green.stop_grace",
            "negative duration",
        ),
        (
            f"command = {CMD}\ninstances = 3",
            f"command = {CMD}\ninstances = 2",
            "",
            10,
            "deploy.green.instances",
            "need 3 green instances",
        ),
        (
            f"command = {CMD}",
            f"command = {CMD}",
            "canary_instances = 2\n",
            5,
            "deploy.canary_instances",
            "does not apply to strategy 'rolling'",
        ),
    ],
)
def test_recipe_mistakes_name_file_line_and_key(
    blue: str, green: str, extra: str, line: int, key: str, words: str
) -> None:
    err = error(recipes(blue, green, extra))
    assert (err.line, err.key) == (line, key), str(err)
    assert words in err.message, str(err)


def test_one_color_as_a_recipe_needs_the_other_too() -> None:
    text = HEAD + 'blue = ["http://127.0.0.1:1"]\n' + f"[deploy.green]\ncommand = {CMD}\n"
    err = error(text)
    assert err.key == "deploy.blue" and "recipe too" in err.message


def test_canary_keys_of_recipes() -> None:
    base = 'name = "t"\nbase_url = "http://127.0.0.1:8080"\n[deploy]\nstrategy = "canary"\n'
    text = base + 'canary_instances = 2\nscale_down_delay = "3s"\n'
    text += f"[deploy.blue]\ncommand = {CMD}\ninstances = 2\n"
    text += f"[deploy.green]\ncommand = {CMD}\ninstances = 2\n"
    plan = parse_profile(text, "p.toml").deploy
    assert plan is not None and (plan.canary_instances, plan.scale_down_delay) == (2, 3.0)
    urls = base + 'blue = ["http://127.0.0.1:1"]\ngreen = ["http://127.0.0.1:2"]\n'
    err = error(urls + "canary_instances = 1\n")
    assert err.key == "deploy.canary_instances" and "recipes" in err.message
    err = error(text.replace("canary_instances = 2", "canary_instances = 3"))
    assert "1..2" in err.message


def test_a_baseline_needs_recipes_and_surges_proxy() -> None:
    base = 'name = "t"\nbase_url = "http://127.0.0.1:8080"\n[deploy]\nstrategy = "canary"\n'
    colors = f"[deploy.blue]\ncommand = {CMD}\n[deploy.green]\ncommand = {CMD}\n"
    plan = parse_profile(base + "baseline = true\n" + colors, "p.toml").deploy
    assert plan is not None and plan.baseline
    err = error(base + 'baseline = true\nrouter = "haproxy"\n' + colors)
    assert (err.line, err.key) == (5, "deploy.baseline") and 'router = "surge"' in err.message
    urls = 'blue = ["http://127.0.0.1:1"]\ngreen = ["http://127.0.0.1:2"]\n'
    err = error(base + "baseline = true\n" + urls)
    assert err.key == "deploy.baseline" and "recipes" in err.message
    err = error(base.replace("canary", "rolling") + "baseline = true\n" + colors)
    assert err.key == "deploy.baseline" and "does not apply to strategy 'rolling'" in err.message
