"""The rules of a profile with several workloads (k6's `options.scenarios`), and the
values bound when it loads.

`[scenarios.NAME]` holds an executor's k6 options plus `startTime`, `exec`, `tags`
and `env`; `exec` names a `[flows.NAME]`. `[setup]`/`[teardown]` are flows run once
(k6's setup()/teardown()), their `timeout` k6's setupTimeout. `${env.NAME}` (or
`${env.NAME:-default}`) and `${hosts.NAME}` are bound in the raw tables before a
flow is parsed, so a value lands JSON- or form-encoded wherever it is written; a
step's default name is taken from the text before binding, so a secret from the
environment never becomes a step name (and so never reaches a report).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from engine.durations import parse_duration
from engine.limits import MAX_DURATION_S
from engine.load.flow import Flow
from engine.profile import fields, http_fields
from engine.profile.fields import Invalid, describe
from engine.profile.locate import KeyPath

SCENARIO_NAME = re.compile(r"[0-9a-zA-Z_-]+")  # k6: numbers, latin letters, _ and -
ENV_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")  # k6's -e names
HOST_NAME = re.compile(r"[A-Za-z0-9_-]+")
RESERVED_TAGS = http_fields.RESERVED_TAGS  # the tags Surge and k6 set themselves
# A [scenarios.NAME] table: these beside its executor's options (gracefulStop among them).
SCENARIO_KEYS = ("startTime", "start_time", "exec", "tags", "env")
FLOW_TABLES = ("endpoints", "flow", "scenario", "flows", "setup", "teardown")
SETUP_TIMEOUT = 60.0  # k6's setupTimeout and teardownTimeout

_PLACEHOLDER = re.compile(r"\$\{(env|hosts)\.([^}:]*)(:-[^}]*)?\}")


@dataclass(frozen=True)
class Binding:
    """The values `${env.NAME}` and `${hosts.NAME}` take in one scenario's tables.

    `who` ("scenario buy") is named when a variable is unset, since a scenario's
    `env` may set what the run's does not."""

    env: Mapping[str, str]
    hosts: Mapping[str, str]
    who: str = ""
    templated: bool = False  # binding into a flow's text, where `${` starts a placeholder

    def value(self, value: Any, path: KeyPath) -> Any:
        """`value` (a TOML value) with every placeholder in its strings bound."""
        if isinstance(value, str):
            return self.text(value, path)
        if isinstance(value, dict):
            return {k: self.value(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v, (*path, i)) for i, v in enumerate(value)]
        return value

    def text(self, text: str, path: KeyPath) -> str:
        if "${" not in text:
            return text
        return _PLACEHOLDER.sub(lambda m: self._one(m, path), text)

    def _one(self, m: re.Match[str], path: KeyPath) -> str:
        kind, name, default = m.group(1), m.group(2), m.group(3)
        if kind == "hosts":
            if default is not None or name not in self.hosts:
                known = ", ".join(self.hosts) or "none: name them in hosts = { NAME = URL }"
                raise Invalid(path, f"unknown host {m.group(0)} (known: {known})")
            return self.hosts[name]
        if not ENV_NAME.fullmatch(name):
            raise Invalid(path, f"bad variable name in {m.group(0)} (letters, digits, _)")
        value = self.env.get(name, None if default is None else default[2:])
        if value is not None:
            if self.templated and "${" in value:
                raise Invalid(
                    path,
                    f"the value of {m.group(0)} holds '${{', which a flow reads as a placeholder",
                )
            return value
        where = f" for {self.who}" if self.who else ""
        raise Invalid(
            path,
            f"${{env.{name}}} is not set{where}: give -e {name}=VALUE, set it in the "
            f"environment, or write a default: ${{env.{name}:-VALUE}}",
        )


def bind_top(doc: Mapping[str, Any], binding: Binding) -> dict[str, Any]:
    """The document with `${env.NAME}` bound in every string outside the flow tables
    (those are bound per scenario) and outside a scenario's own `env`."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key in FLOW_TABLES:
            out[key] = value
        elif key == "scenarios" and isinstance(value, dict):
            out[key] = {
                name: {
                    k: v if k == "env" else binding.value(v, (key, name, k))
                    for k, v in table.items()
                }
                if isinstance(table, dict)
                else table
                for name, table in value.items()
            }
        else:
            out[key] = binding.value(value, (key,))
    return out


def bind_steps(steps: Any, path: KeyPath, binding: Binding) -> Any:
    """Steps (or endpoints) bound, each named as written (its default name from the text
    before binding), so a secret bound into a path never becomes a name."""
    if not isinstance(steps, list):
        return steps
    out = []
    for i, step in enumerate(steps):
        if not isinstance(step, dict):
            out.append(step)
            continue
        bound = binding.value({k: v for k, v in step.items() if k != "name"}, (*path, i))
        method, target = step.get("method", "GET"), step.get("path", "/")
        if "name" in step:
            bound["name"] = step["name"]
        elif isinstance(method, str) and isinstance(target, str):
            bound["name"] = f"{method.strip().upper()} {http_fields.userinfo(target)[0]}"
        out.append(bound)
    return out


def bind_flow(table: Any, path: KeyPath, binding: Binding) -> Any:
    """A flow table (`[flow]`, `[flows.X]`, `[setup]`) bound, its steps by `bind_steps`."""
    if not isinstance(table, dict):
        return table
    out = binding.value({k: v for k, v in table.items() if k != "steps"}, path)
    if "steps" in table:
        out["steps"] = bind_steps(table["steps"], (*path, "steps"), binding)
    return out


tags = http_fields.tags  # a scenario's, the run's: as a step's


def env_table(value: Any, path: KeyPath) -> tuple[tuple[str, str], ...]:
    """A scenario's `env = { NAME = "value" }`, over -e and the process environment."""
    table = fields.table(value, path, hint='env = { NAME = "value" }')
    for name, text in table.items():
        if not ENV_NAME.fullmatch(name):
            raise Invalid((*path, name), f"bad variable name {name!r} (letters, digits, _)")
        fields.text(text, (*path, name))
    return tuple(table.items())


def hosts(value: Any, path: KeyPath) -> dict[str, str]:
    """`hosts = { auth = "https://127.0.0.1:9443" }`: origins a `${hosts.auth}/path` reaches."""
    table = fields.table(value, path, hint='hosts = { NAME = "http://host:port" }')
    out: dict[str, str] = {}
    for name, url in table.items():
        if not HOST_NAME.fullmatch(name):
            raise Invalid((*path, name), f"bad host name {name!r} (letters, digits, _ and -)")
        try:
            out[name] = http_fields.http_base(fields.text(url, (*path, name)))
        except ValueError as exc:
            raise Invalid((*path, name), str(exc)) from None
    return out


def scenario_name(name: str, path: KeyPath) -> str:
    if not SCENARIO_NAME.fullmatch(name):
        raise Invalid(
            path,
            f"bad scenario name {name!r}: k6 takes only numbers, latin letters, _ and -",
        )
    return name


def start_time(table: Mapping[str, Any], path: KeyPath) -> float:
    """k6's `startTime` (>= 0): seconds after setup() ends."""
    given = [k for k in ("startTime", "start_time") if k in table]
    if len(given) > 1:
        raise Invalid((*path, given[1]), "given twice (startTime and start_time)")
    if not given:
        return 0.0
    where = (*path, given[0])
    value = table[given[0]]
    try:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError
        seconds = parse_duration(value)
    except ValueError:
        raise Invalid(where, f'expected a duration such as "30s", got {describe(value)}') from None
    if not 0 <= seconds <= MAX_DURATION_S or math.isnan(seconds):
        raise Invalid(where, f"expected a duration 0..31 days, got {describe(value)}")
    return seconds


def exec_name(value: Any, path: KeyPath, flows: Mapping[str, Any]) -> str:
    """`exec`: a `[flows.NAME]` of this profile."""
    name = fields.name(value, path)
    if name not in flows:
        known = ", ".join(flows) if flows else "none: add [flows.NAME] with its steps"
        raise Invalid(path, f"no flow {name!r} (flows: {known})")
    return name


def side_timeout(table: Mapping[str, Any], path: KeyPath) -> float:
    """`[setup]`'s or `[teardown]`'s `timeout` (k6's setupTimeout, 60 s by default)."""
    if "timeout" not in table:
        return SETUP_TIMEOUT
    return fields.seconds(table["timeout"], (*path, "timeout"))


def setup_variables(setup: Flow | None) -> frozenset[str]:
    """`setup.NAME` for every value setup captures: known in every flow and teardown."""
    if setup is None:
        return frozenset()
    return frozenset(f"setup.{c.name}" for step in setup.steps for c in step.captures)


def check_origin(url: str, path: KeyPath, origins: Mapping[tuple[str, str, int], str]) -> None:
    """An absolute URL must be on base_url's origin or a `hosts` one: every request goes
    to a named place, and the error says where it is written."""
    want = origin(url)
    if want is None or want in origins:
        return
    base = next(iter(origins.values()))
    raise Invalid(
        path,
        f"{url} is on another host than base_url {base}: requests go to base_url or to a "
        "host named in hosts = { NAME = URL } (as ${hosts.NAME}/path); give a path (and a "
        "Host header for a virtual host), or name the host",
    )


def origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an absolute http(s) URL whose host is written out, else None
    (a path, or an origin a placeholder completes at run time)."""
    if not url.lower().startswith(("http://", "https://")):
        return None
    scheme, _, rest = url.partition("://")
    netloc = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "${" in netloc:
        return None
    try:
        parts = urlsplit(f"{scheme}://{netloc}")
        port = parts.port
    except ValueError:
        return None
    scheme = scheme.lower()
    return scheme, (parts.hostname or "").lower(), port or (443 if scheme == "https" else 80)
