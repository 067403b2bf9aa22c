"""A color of `[deploy]` given as a table: the recipe Surge starts its instances from.

Validated like every other table of a profile (engine.profile.fields), so a mistake is
one line `file:line: deploy.green.command: ...` and exit 2.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from engine.deploy.recipe import PLACEHOLDERS, Health, Recipe
from engine.errors import did_you_mean
from engine.profile import fields
from engine.profile.fields import Invalid, describe
from engine.profile.locate import KeyPath

__all__ = ["KEYS", "parse_recipe"]

KEYS = ("command", "instances", "health", "env", "workdir", "stop_grace")
HEALTH_KEYS = ("path", "timeout")
MAX_INSTANCES = 64  # loopback processes on one machine: more is a typo
_BRACED = re.compile(r"\{([^{}]*)\}")


def parse_recipe(table: Mapping[str, Any], path: KeyPath) -> Recipe:
    fields.known_keys(table, path, KEYS)
    if "command" not in table:
        raise Invalid(
            (*path, "command"), 'required: an argv list, e.g. ["my-app", "--port", "{port}"]'
        )
    command = _argv(table["command"], (*path, "command"))
    instances = fields.integer(table.get("instances", 1), (*path, "instances"), 1, MAX_INSTANCES)
    health = _health(table.get("health", {}), (*path, "health"))
    env = _env(table.get("env", {}), (*path, "env"))
    workdir = None
    if "workdir" in table:
        workdir = fields.name(table["workdir"], (*path, "workdir"))
    grace = fields.seconds(table.get("stop_grace", "5s"), (*path, "stop_grace"))
    return Recipe(command, instances, health, env, workdir, grace)


def _argv(value: Any, path: KeyPath) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise Invalid(
            path, f"expected a non-empty list of strings (argv, no shell), got {describe(value)}"
        )
    out: list[str] = []
    for i, arg in enumerate(value):
        if not isinstance(arg, str):
            raise Invalid((*path, i), f"expected a string, got {describe(arg)}")
        _placeholders(arg, (*path, i))
        out.append(arg)
    if not out[0].strip():
        raise Invalid((*path, 0), "the program must not be empty")
    if not any("{port}" in a for a in out):
        raise Invalid(
            path, 'must pass {port} (the free loopback port Surge picks), e.g. "--port", "{port}"'
        )
    return tuple(out)


def _placeholders(text: str, path: KeyPath) -> None:
    """Only {port} and {instance}: `{prot}` would otherwise reach the program as written."""
    for name in _BRACED.findall(text):
        if name not in PLACEHOLDERS and re.fullmatch(r"\w+", name):
            hint = did_you_mean(name, PLACEHOLDERS)
            raise Invalid(
                path, f"unknown placeholder {{{name}}}{hint} (known: {{port}}, {{instance}})"
            )


def _health(value: Any, path: KeyPath) -> Health:
    if isinstance(value, str):
        value = {"path": value}
    t = fields.table(value, path, hint='e.g. {path = "/health", timeout = "10s"}')
    fields.known_keys(t, path, HEALTH_KEYS)
    d = Health()
    where = fields.text(t.get("path", d.path), (*path, "path"))
    if not where.startswith("/"):
        raise Invalid((*path, "path"), f"must start with /, got {where!r}")
    timeout = fields.seconds(t.get("timeout", "10s"), (*path, "timeout"))
    return Health(where, timeout)


def _env(value: Any, path: KeyPath) -> dict[str, str]:
    t = fields.table(value, path, hint='e.g. {LOG_LEVEL = "info"}')
    out: dict[str, str] = {}
    for k, v in t.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k):
            raise Invalid((*path, k), "not a valid environment variable name")
        out[k] = fields.text(v, (*path, k))
        _placeholders(out[k], (*path, k))
    return out
