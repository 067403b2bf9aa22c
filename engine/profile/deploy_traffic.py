"""`[[deploy.routes]]`, `mirror_methods` and a canary's cohort and mirror steps.

Read apart from engine.profile.deploy so the `[deploy]` table's other keys stay where
they are; every mistake is an `Invalid` at its key, so it reads as file:line:key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from engine.deploy.strategies import CohortStep, MirrorStep, Step, WeightStep
from engine.deploy.strategies.steps import as_steps
from engine.deploy.strategies.traffic import IDEMPOTENT, Route, RouteKind
from engine.profile import fields
from engine.profile.fields import Invalid, describe
from engine.profile.locate import KeyPath

__all__ = ["NO_MIRROR", "TRAFFIC_KEYS", "parse_steps", "parse_traffic"]

#: The canary's keys read here (engine.profile.deploy lists them as the canary's).
TRAFFIC_KEYS = ("routes", "mirror_methods")
_ROUTE_KEYS = (*(k.value for k in RouteKind), "value", "regex", "color", "cohort")
_MIRROR_KEYS = ("mirror", "for")
_METHOD = re.compile(r"[A-Z]+")
#: Routers that cannot mirror, and why (the profile's and `surge demo --mirror`'s refusal).
NO_MIRROR = {"haproxy": "HAProxy has no request mirroring"}


def parse_steps(value: Any, path: KeyPath) -> tuple[Step, ...]:
    """Canary steps: percentages (increasing, 1..100), `"cohort"`, and mirror steps
    `{ mirror = 100, for = "30s" }` (`for` defaults to the interval)."""
    if not isinstance(value, list | tuple) or not value:
        raise Invalid(path, f"expected a list like [1, 5, 25, 50, 100], got {describe(value)}")
    out: list[Step] = []
    for i, s in enumerate(value):
        at = (*path, i)
        step: Step
        if s == "cohort":
            step = CohortStep()
        elif isinstance(s, Mapping):
            step = _mirror_step(s, at)
        elif isinstance(s, str):
            message = f'expected a percentage, "cohort" or {{ mirror = 100 }}, got {s!r}'
            raise Invalid(at, message)
        else:
            step = WeightStep(fields.integer(s, at, 1, 100))
        try:
            as_steps([*out, step])
        except ValueError as exc:
            raise Invalid(at, str(exc)) from None
        out.append(step)
    return tuple(out)


def _mirror_step(t: Mapping[str, Any], at: KeyPath) -> MirrorStep:
    fields.known_keys(t, at, _MIRROR_KEYS)
    if "mirror" not in t:
        raise Invalid((*at, "mirror"), "required: the share of requests copied to green, 1..100")
    percent = fields.integer(t["mirror"], (*at, "mirror"), 1, 100)
    seconds = fields.seconds(t["for"], (*at, "for")) if "for" in t else None
    return MirrorStep(percent, seconds)


def parse_traffic(
    table: Mapping[str, Any], path: KeyPath, router: str, steps: Sequence[Step]
) -> tuple[tuple[Route, ...], tuple[str, ...]]:
    """The routes and the mirror's methods; checked against the steps that use them and
    the router that would carry them."""
    routes = _routes(table["routes"], (*path, "routes")) if "routes" in table else ()
    cohort = next((i for i, s in enumerate(steps) if isinstance(s, CohortStep)), None)
    mirror = next((i for i, s in enumerate(steps) if isinstance(s, MirrorStep)), None)
    if cohort is not None and not routes:
        message = 'a "cohort" step needs [[deploy.routes]] (who is in the cohort)'
        raise Invalid((*path, "steps", cohort), message)
    if routes and cohort is None:
        message = 'routes turn on at a "cohort" step: add "cohort" to steps'
        raise Invalid((*path, "routes"), message)
    if mirror is not None and router in NO_MIRROR:
        message = f'{NO_MIRROR[router]}: use router = "surge" or "envoy"'
        raise Invalid((*path, "steps", mirror), message)
    methods = IDEMPOTENT
    if "mirror_methods" in table:
        at = (*path, "mirror_methods")
        if mirror is None:
            raise Invalid(at, "applies with a mirror step ({ mirror = 100 } in steps)")
        methods = _methods(table["mirror_methods"], at)
    return routes, methods


def _routes(value: Any, path: KeyPath) -> tuple[Route, ...]:
    if not isinstance(value, list | tuple) or not value:
        hint = '[[deploy.routes]] tables, e.g. header = "x-beta", value = "1", color = "green"'
        raise Invalid(path, f"expected {hint}, got {describe(value)}")
    return tuple(_route(fields.table(t, (*path, i)), (*path, i)) for i, t in enumerate(value))


def _route(t: Mapping[str, Any], at: KeyPath) -> Route:
    fields.known_keys(t, at, _ROUTE_KEYS)
    kinds = [k for k in RouteKind if k.value in t]
    if len(kinds) != 1:
        raise Invalid(at, "give one of header, cookie or query (the name to match)")
    kind = kinds[0]
    name = fields.text(t[kind.value], (*at, kind.value))
    if ("value" in t) == ("regex" in t):
        raise Invalid(at, "give one of value (exact) or regex")
    if "color" not in t:
        raise Invalid((*at, "color"), 'required: "blue" or "green"')
    color = fields.text(t["color"], (*at, "color"))
    if color not in ("blue", "green"):
        raise Invalid((*at, "color"), f'expected "blue" or "green", got {color!r}')
    regex = fields.text(t["regex"], (*at, "regex")) if "regex" in t else None
    if regex is not None:
        try:
            re.compile(regex)
        except re.error as exc:
            raise Invalid((*at, "regex"), f"bad regex {regex!r}: {exc}") from None
    value = fields.text(t["value"], (*at, "value")) if "value" in t else None
    cohort = fields.name(t["cohort"], (*at, "cohort")) if "cohort" in t else ""
    try:
        return Route(kind, name, color, value=value, regex=regex, cohort=cohort)
    except ValueError as exc:
        raise Invalid(at, str(exc)) from None


def _methods(value: Any, path: KeyPath) -> tuple[str, ...]:
    """HTTP methods, upper case; writes are allowed (README: Mirroring warns)."""
    if not isinstance(value, list | tuple) or not value:
        raise Invalid(path, f'expected a list like ["GET", "HEAD"], got {describe(value)}')
    out: list[str] = []
    for i, m in enumerate(value):
        method = fields.text(m, (*path, i)).upper()
        if not _METHOD.fullmatch(method):
            raise Invalid((*path, i), f"expected an HTTP method like GET, got {m!r}")
        out.append(method)
    return tuple(dict.fromkeys(out))
