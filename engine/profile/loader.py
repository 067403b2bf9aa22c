"""Profiles: the TOML files a user writes, validated on load into frozen dataclasses.

Every mistake becomes one `ProfileError` line, "file:line: key: message", because
a load test that dies half-way over a typo costs far more than a strict loader.
tomllib reports no positions for valid TOML, so `find_line` re-reads the text
with just enough of a TOML lexer to say where a key path is written.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import reprlib
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from engine.deploy.strategies import DeployPlan, parse_deploy
from engine.durations import parse_duration
from engine.errors import ConfigError
from engine.load.checks import Check, parse_check
from engine.load.executors import ExecutorConfig
from engine.load.scenario import BUILTINS, Capture, Poll, Scenario, Step, Template, load_data
from engine.load.thresholds import Threshold, parse_key, parse_thresholds

KeyPath = tuple[str | int, ...]

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE")
CLIENTS = ("wire", "httpx")
ENV_KEYS = ("base_url", "headers", "vus", "rate", "max_vus", "description")
ENDPOINT_KEYS = ("name", "method", "path", "headers", "body", "json", "weight", "checks")
SCENARIO_KEYS = ("name", "data", "steps")
STEP_KEYS = (
    "name",
    "method",
    "path",
    "headers",
    "body",
    "json",
    "checks",
    "capture",
    "think",
    "until",
)
POLL_KEYS = ("tries", "every")
CAPTURE_KINDS = ("json", "header", "regex")
TOP_KEYS = (
    "name",
    "description",
    "base_url",
    "headers",
    "vus",
    "rate",
    "max_vus",
    "time_scale",
    "duration",
    "client",
    "timeout",
    "connect_timeout",
    "insecure",
    "expected_statuses",
    "workers",
    "endpoints",
    "thresholds",
    "load",
    "environments",
    "deploy",
    "scenario",
)

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class ProfileError(ValueError):
    """A profile mistake, always one line, so a terminal or a CI log shows it whole."""

    def __init__(self, file: str, line: int | None, key: str, message: str) -> None:
        self.file = file
        self.line = line
        self.key = _one_line(key)
        self.message = _one_line(message)
        where = f"{file}:{line}" if line is not None else file
        super().__init__(_one_line(f"{where}: {self.key}: {self.message}"))


@dataclass(frozen=True)
class Endpoint:
    """One weighted request; VUs pick endpoints at random in proportion to `weight`."""

    name: str
    method: str = "GET"
    path: str = "/"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    weight: float = 1.0
    checks: tuple[Check, ...] = ()


@dataclass(frozen=True)
class Profile:
    """A validated profile; `source` is the file as given, or "<url>" for `surge run URL`."""

    name: str
    source: str
    base_url: str
    headers: tuple[tuple[str, str], ...] = ()
    description: str = ""
    vus: int | None = None
    rate: float | None = None
    max_vus: int | None = None
    time_scale: float = 1.0
    duration: float | None = None
    client: str = "wire"
    timeout: float = 10.0
    connect_timeout: float = 5.0
    insecure: bool = False
    expected_statuses: tuple[tuple[int, int], ...] = ((200, 399),)
    workers: int | None = None
    endpoints: tuple[Endpoint, ...] = ()
    thresholds: tuple[Threshold, ...] = ()
    load: ExecutorConfig | None = None
    environment: str | None = None
    environments: tuple[str, ...] = ()
    scenario: Scenario | None = None
    # Excluded from hashing: a plan holds mappings, which cannot hash.
    deploy: DeployPlan | None = field(default=None, hash=False)


class _Invalid(Exception):
    """A bad value at a key path; parse_profile turns it into a located ProfileError."""

    def __init__(self, path: KeyPath, message: str, *, locate: bool = True) -> None:
        super().__init__(message)
        self.path = path
        self.message = message
        self.locate = locate


# --------------------------------------------------------------------------- API


def load_profile(
    path: str | Path, *, env: str | None = None, base_url: str | None = None
) -> Profile:
    """Read and validate a profile file; unreadable files are ProfileErrors too."""
    source = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ProfileError(source, None, "file", f"cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ProfileError(source, line, "toml", "not UTF-8 text") from None
    return parse_profile(text, source, env=env, base_url=base_url)


def parse_profile(
    text: str, source: str, *, env: str | None = None, base_url: str | None = None
) -> Profile:
    """Validate profile text; `base_url` (--base-url) beats the environment's and the file's."""
    doc = _decode_toml(text, source)
    try:
        return _build(doc, source, env, base_url)
    except _Invalid as exc:
        line = find_line(text, exc.path) if exc.locate else None
        raise ProfileError(source, line, format_key(exc.path), exc.message) from None


def adhoc_profile(
    url: str,
    *,
    method: str = "GET",
    headers: Sequence[tuple[str, str]] = (),
    body: bytes | None = None,
) -> Profile:
    """The profile behind `surge run URL`: one endpoint, everything else default."""
    try:
        base, target = _split_url(url)
    except ValueError as exc:
        raise ProfileError("<url>", None, "url", str(exc)) from None
    verb = method.strip().upper()
    if verb not in METHODS:
        raise ProfileError("<url>", None, "method", _bad_method(method))
    for name, value in headers:
        try:
            _check_header(name, value)
        except ValueError as exc:
            raise ProfileError("<url>", None, "header", str(exc)) from None
    endpoint = Endpoint(name=f"{verb} {target}", method=verb, path=target, body=body)
    return Profile(
        name=url,
        source="<url>",
        base_url=base,
        headers=tuple((n, v) for n, v in headers),
        endpoints=(endpoint,),
    )


def discover_profiles(dirs: Sequence[Path]) -> list[Path]:
    """Profiles a picker can offer: *.toml per directory, sorted; absent directories are fine."""
    found: list[Path] = []
    seen: set[Path] = set()
    for directory in dirs:
        directory = Path(directory)
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.toml")):
            if path.is_file() and path not in seen:
                seen.add(path)
                found.append(path)
    return found


def parse_header(text: str) -> tuple[str, str]:
    """`--header "Name: value"`, rejecting what would corrupt the request on the wire."""
    name, sep, value = text.partition(":")
    if not sep:
        raise ValueError(f"bad header {text!r}: expected 'Name: value'")
    name, value = name.strip(), value.strip()
    _check_header(name, value)
    return name, value


def parse_statuses(value: Any) -> tuple[tuple[int, int], ...]:
    """Sorted, merged inclusive ranges from "200-399", "200-299,404", 204 or [200, "300-302"]."""
    parts = value if isinstance(value, list) else [value]
    ranges = [r for part in parts for r in _status_ranges(part)]
    if not ranges:
        raise ValueError('expected at least one status, e.g. "200-399"')
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return tuple(merged)


def format_key(path: KeyPath) -> str:
    """A key path as a user would write it: endpoints[1].checks[0].status, quoting odd keys."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        text = part if _BARE_KEY.fullmatch(part) else json.dumps(part, ensure_ascii=False)
        out += f".{text}" if out else text
    return out


def find_line(text: str, path: Sequence[str | int]) -> int | None:
    """1-based line where `path` is written, else that of its nearest written ancestor.

    Keys inside inline tables and array elements are located too, so a bad check in
    a multi-line `checks = [...]` points at its own line. Never raises, on any text.
    """
    lines = _line_map(text)
    key = tuple(path)
    for end in range(len(key), 0, -1):
        line = lines.get(key[:end])
        if line is not None:
            return line
    return None


# ------------------------------------------------------------------ TOML decoding

_TOML_AT = re.compile(r"^(?P<msg>.*?)\s*\(at line (?P<line>\d+), column (?P<col>\d+)\)\s*$", re.S)
_TOML_END = re.compile(r"^(?P<msg>.*?)\s*\(at end of document\)\s*$", re.S)


def _decode_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _toml_error(source, text, str(exc)) from None
    except RecursionError:
        raise ProfileError(source, None, "toml", "nested too deeply") from None


def _toml_error(source: str, text: str, message: str) -> ProfileError:
    """tomllib puts the position in its message; lift it out into the line field."""
    m = _TOML_AT.match(message)
    if m:
        msg = f"{m.group('msg')} (column {m.group('col')})"
        return ProfileError(source, int(m.group("line")), "toml", msg)
    m = _TOML_END.match(message)
    if m:
        last = max(1, len(text.splitlines()))
        return ProfileError(source, last, "toml", f"{m.group('msg')} (at end of file)")
    return ProfileError(source, None, "toml", message)


# ------------------------------------------------------------------- the model


def _build(doc: Mapping[str, Any], source: str, env: str | None, base_url: str | None) -> Profile:
    for key in doc:
        if key not in TOP_KEYS:
            raise _Invalid((key,), f"unknown key (known: {', '.join(TOP_KEYS)})")
    values = {k: _FIELDS[k](v, (k,)) for k, v in doc.items() if k in _FIELDS}
    envs = _environments(doc.get("environments", {}), ("environments",))
    if env is not None and env not in envs:
        known = ", ".join(envs) if envs else "none are defined"
        raise _Invalid(("environments",), f"no environment {env!r} (known: {known})")
    if env is not None:
        values = _apply_environment(values, envs[env])
    if base_url is not None:
        values["base_url"] = _override_base_url(base_url)
    for required in ("name", "base_url"):
        if required not in values:
            raise _Invalid((required,), _MISSING_HINTS[required])
    headers = values.get("headers", ())
    values["endpoints"] = _endpoints(doc.get("endpoints", []), ("endpoints",), headers)
    if "scenario" in doc:
        if "endpoints" in doc:
            raise _Invalid(("scenario",), "give [[endpoints]] (unit test) or [scenario], not both")
        values["scenario"] = _scenario(doc["scenario"], ("scenario",), headers, Path(source).parent)
    return Profile(source=source, environment=env, environments=tuple(envs), **values)


_MISSING_HINTS = {
    "name": 'required (e.g. name = "checkout API")',
    "base_url": "required: set base_url, or one per [environments.NAME], or pass --base-url",
}


def _apply_environment(values: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """An environment replaces scalars but merges headers, so auth can differ per env."""
    merged = dict(values)
    for key, value in overrides.items():
        if key == "headers":
            merged[key] = _merge_headers(values.get("headers", ()), value)
        else:
            merged[key] = value
    return merged


def _merge_headers(
    base: Sequence[tuple[str, str]], over: Sequence[tuple[str, str]]
) -> tuple[tuple[str, str], ...]:
    replaced = {name.lower(): (name, value) for name, value in over}
    out = [replaced.pop(name.lower(), (name, value)) for name, value in base]
    return (*out, *(h for h in over if h[0].lower() in replaced))


def _override_base_url(text: str) -> str:
    try:
        return _http_base(text)
    except ValueError as exc:
        raise _Invalid(("base_url",), f"bad --base-url: {exc}", locate=False) from None


def _environments(value: Any, path: KeyPath) -> dict[str, dict[str, Any]]:
    table = _table(value, path)
    out: dict[str, dict[str, Any]] = {}
    for name, env in table.items():
        where = (*path, name)
        env_table = _table(env, where, hint=f"[environments.{name}]")
        for key in env_table:
            if key not in ENV_KEYS:
                allowed = ", ".join(ENV_KEYS)
                raise _Invalid((*where, key), f"an environment may set only: {allowed}")
        out[name] = {k: _FIELDS[k](v, (*where, k)) for k, v in env_table.items()}
    return out


def _endpoints(
    value: Any, path: KeyPath, profile_headers: Sequence[tuple[str, str]]
) -> tuple[Endpoint, ...]:
    if not isinstance(value, list):
        raise _Invalid(path, f"expected an array of tables ([[endpoints]]), got {_show(value)}")
    if not value:
        return (Endpoint(name="GET /"),)
    endpoints = [_endpoint(item, (*path, i), profile_headers) for i, item in enumerate(value)]
    first: dict[str, int] = {}
    for i, endpoint in enumerate(endpoints):
        if endpoint.name in first:
            also = f"also endpoints[{first[endpoint.name]}]"
            raise _Invalid((*path, i, "name"), f"duplicate name {endpoint.name!r} ({also})")
        first[endpoint.name] = i
    return tuple(endpoints)


def _endpoint(value: Any, path: KeyPath, profile_headers: Sequence[tuple[str, str]]) -> Endpoint:
    table = _table(value, path, hint="[[endpoints]]")
    for key in table:
        if key not in ENDPOINT_KEYS:
            raise _Invalid((*path, key), f"unknown key (known: {', '.join(ENDPOINT_KEYS)})")
    method = _method(table.get("method", "GET"), (*path, "method"))
    target = _target(table.get("path", "/"), (*path, "path"))
    headers = _headers(table.get("headers", {}), (*path, "headers"))
    body, headers = _body(table, path, headers, profile_headers)
    weight = _positive(table.get("weight", 1.0), (*path, "weight"))
    checks = _checks(table.get("checks", []), (*path, "checks"))
    name = _name(table["name"], (*path, "name")) if "name" in table else f"{method} {target}"
    return Endpoint(name, method, target, headers, body, weight, checks)


def _body(
    table: Mapping[str, Any],
    path: KeyPath,
    headers: tuple[tuple[str, str], ...],
    profile_headers: Sequence[tuple[str, str]],
) -> tuple[bytes | None, tuple[tuple[str, str], ...]]:
    """`body` is sent as written; `json` is encoded and labelled unless a content-type is set."""
    if "body" in table and "json" in table:
        raise _Invalid((*path, "json"), "give body or json, not both")
    if "body" in table:
        return _text(table["body"], (*path, "body")).encode(), headers
    if "json" not in table:
        return None, headers
    try:
        encoded = json.dumps(
            table["json"], separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_iso
        ).encode()
    except ValueError:
        raise _Invalid((*path, "json"), "nan and inf have no JSON form") from None
    if not any(n.lower() == "content-type" for n, _ in (*headers, *profile_headers)):
        headers = (*headers, ("content-type", "application/json"))
    return encoded, headers


def _iso(value: Any) -> str:
    """TOML dates and times have no JSON type; ISO 8601 strings are what APIs expect."""
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {value!r}")


def _checks(value: Any, path: KeyPath) -> tuple[Check, ...]:
    if not isinstance(value, list):
        raise _Invalid(path, f"expected an array of check tables, got {_show(value)}")
    checks = []
    for i, item in enumerate(value):
        try:
            checks.append(parse_check(item))
        except ConfigError as exc:
            named = isinstance(item, Mapping) and exc.key in item
            raise _Invalid((*path, i, exc.key) if named else (*path, i), exc.message) from None
    return tuple(checks)


# ----------------------------------------------------------------------- deploy


def _deploy(value: Any, path: KeyPath) -> DeployPlan:
    try:
        return parse_deploy(_table(value, path, hint="[deploy]"), prefix="")
    except ConfigError as exc:
        raise _Invalid((*path, *_key_path(exc.key)), exc.message) from None


def _key_path(key: str) -> KeyPath:
    """ "steps[2].x" -> ("steps", 2, "x"): a ConfigError's key, as find_line wants it."""
    out: list[str | int] = []
    for part in key.split("."):
        name, *indexes = part.replace("]", "").split("[")
        if name:
            out.append(name)
        out.extend(int(i) for i in indexes if i.isdigit())
    return tuple(out)


# -------------------------------------------------------------------- scenarios


def _scenario(
    value: Any, path: KeyPath, profile_headers: Sequence[tuple[str, str]], base_dir: Path
) -> Scenario:
    table = _table(value, path, hint="[scenario]")
    for key in table:
        if key not in SCENARIO_KEYS:
            raise _Invalid((*path, key), f"unknown key (known: {', '.join(SCENARIO_KEYS)})")
    data: tuple[dict[str, str], ...] = ()
    if "data" in table:
        file = base_dir / _text(table["data"], (*path, "data"))
        try:
            data = load_data(file)
        except (OSError, ValueError) as exc:
            raise _Invalid((*path, "data"), f"cannot read {file}: {exc}") from None
        if not data:
            raise _Invalid((*path, "data"), f"{file} has no rows")
    raw_steps = table.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise _Invalid((*path, "steps"), "expected at least one [[scenario.steps]] table")
    known = set(BUILTINS) | {f"data.{col}" for col in (data[0] if data else {})}
    steps: list[Step] = []
    for i, raw in enumerate(raw_steps):
        step = _step(raw, (*path, "steps", i), profile_headers, known)
        if any(s.name == step.name for s in steps):
            raise _Invalid((*path, "steps", i, "name"), f"duplicate step name {step.name!r}")
        steps.append(step)
        known |= {c.name for c in step.captures}
    name = _name(table["name"], (*path, "name")) if "name" in table else "scenario"
    return Scenario(name, tuple(steps), data)


def _step(
    value: Any, path: KeyPath, profile_headers: Sequence[tuple[str, str]], known: set[str]
) -> Step:
    table = _table(value, path, hint="[[scenario.steps]]")
    for key in table:
        if key not in STEP_KEYS:
            raise _Invalid((*path, key), f"unknown key (known: {', '.join(STEP_KEYS)})")
    method = _method(table.get("method", "GET"), (*path, "method"))
    raw_path = _text(table.get("path", "/"), (*path, "path"))
    _target(_VAR_SUB.sub("x", raw_path), (*path, "path"))
    headers = _headers(table.get("headers", {}), (*path, "headers"))
    body, headers = _body(table, path, headers, profile_headers)
    body_key = "json" if "json" in table else "body"
    step = Step(
        name=_name(table["name"], (*path, "name")) if "name" in table else f"{method} {raw_path}",
        method=method,
        path=Template.compile(raw_path),
        headers=tuple((k, Template.compile(v)) for k, v in headers),
        body=Template.compile(body.decode(), json_escape=body_key == "json") if body else None,
        checks=_checks(table.get("checks", []), (*path, "checks")),
        captures=_captures(table.get("capture", {}), (*path, "capture")),
        think=_think(table.get("think", 0), (*path, "think")),
        poll=_poll(table["until"], (*path, "until")) if "until" in table else None,
    )
    for where, template in (
        (("path",), step.path),
        *((("headers", k), t) for k, t in step.headers),
        *([((body_key,), step.body)] if step.body is not None else []),
    ):
        for name in template.names:
            if name not in known:
                hint = ", ".join(sorted(known))
                raise _Invalid((*path, *where), f"unknown variable ${{{name}}} (known: {hint})")
    return step


_VAR_SUB = re.compile(r"\$\{[^}]*\}")


def _captures(value: Any, path: KeyPath) -> tuple[Capture, ...]:
    table = _table(value, path, hint='name = { json = "a.b" }')
    out = []
    for name, spec in table.items():
        where = (*path, name)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or name in BUILTINS:
            raise _Invalid(where, f"bad variable name {name!r}")
        spec_table = _table(
            spec, where, hint='{ json = "path" }, { header = "name" } or { regex = "..." }'
        )
        if len(spec_table) != 1 or next(iter(spec_table)) not in CAPTURE_KINDS:
            raise _Invalid(where, f"expected exactly one of {', '.join(CAPTURE_KINDS)}")
        kind, expr = next(iter(spec_table.items()))
        expr = _name(expr, (*where, kind))
        if kind == "regex":
            try:
                re.compile(expr)
            except re.error as exc:
                raise _Invalid((*where, kind), f"bad regex: {exc}") from None
        out.append(Capture(name, kind, expr))
    return tuple(out)


def _think(value: Any, path: KeyPath) -> tuple[float, float]:
    """`think = "1s"` or a range `"0.5s-2s"`: a pause after the step, as a user reads."""
    if isinstance(value, str) and "-" in value.strip()[1:]:
        lo_text, _, hi_text = value.partition("-")
        lo, hi = _seconds_or_zero(lo_text, path), _seconds_or_zero(hi_text, path)
        if hi < lo:
            raise _Invalid(path, f"range goes backwards: {value!r}")
        return lo, hi
    seconds = _seconds_or_zero(value, path)
    return seconds, seconds


def _seconds_or_zero(value: Any, path: KeyPath) -> float:
    if value == 0:
        return 0.0
    return _seconds(value.strip() if isinstance(value, str) else value, path)


def _poll(value: Any, path: KeyPath) -> Poll:
    table = dict(_table(value, path, hint='{ json = "status", equals = "done", tries = 30 }'))
    tries = _whole(table.pop("tries", 30), (*path, "tries"))
    every = _seconds(table.pop("every", "500ms"), (*path, "every"))
    try:
        check = parse_check(table)
    except ConfigError as exc:
        raise _Invalid((*path, exc.key) if exc.key in table else path, exc.message) from None
    return Poll(check, tries, every)


# ------------------------------------------------------------- field validators


def _show(value: Any) -> str:
    """A value as the user wrote it, with its TOML type, and never a whole page of it."""
    return f"{_toml_type(value)} {reprlib.repr(value)}"


def _toml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "table"
    return "date/time"


def _table(value: Any, path: KeyPath, *, hint: str = "") -> Mapping[str, Any]:
    if not isinstance(value, dict):
        wanted = f"a table{f' ({hint})' if hint else ''}"
        raise _Invalid(path, f"expected {wanted}, got {_show(value)}")
    return value


def _text(value: Any, path: KeyPath) -> str:
    if not isinstance(value, str):
        raise _Invalid(path, f"expected a string, got {_show(value)}")
    return value


def _name(value: Any, path: KeyPath) -> str:
    text = _text(value, path).strip()
    if not text:
        raise _Invalid(path, "must not be empty")
    return text


def _whole(value: Any, path: KeyPath) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _Invalid(path, f"expected a whole number >= 1, got {_show(value)}")
    return value


def _positive(value: Any, path: KeyPath) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not 0 < value < math.inf:
        raise _Invalid(path, f"expected a number > 0, got {_show(value)}")
    return float(value)


def _seconds(value: Any, path: KeyPath) -> float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _Invalid(path, f'expected a duration such as "30s", got {_show(value)}')
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise _Invalid(path, str(exc)) from None
    if not 0 < seconds < math.inf:
        raise _Invalid(path, f"expected a positive duration, got {_show(value)}")
    return seconds


def _flag(value: Any, path: KeyPath) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(path, f"expected true or false, got {_show(value)}")
    return value


def _client(value: Any, path: KeyPath) -> str:
    if _text(value, path) not in CLIENTS:
        raise _Invalid(path, f"unknown client {value!r} (known: {', '.join(CLIENTS)})")
    return value


def _base_url(value: Any, path: KeyPath) -> str:
    try:
        return _http_base(_text(value, path))
    except ValueError as exc:
        raise _Invalid(path, str(exc)) from None


def _method(value: Any, path: KeyPath) -> str:
    verb = _text(value, path).strip().upper()
    if verb not in METHODS:
        raise _Invalid(path, _bad_method(value))
    return verb


def _bad_method(value: str) -> str:
    return f"unknown HTTP method {value!r} (known: {', '.join(METHODS)})"


def _target(value: Any, path: KeyPath) -> str:
    text = _text(value, path)
    if _has_space_or_control(text):
        raise _Invalid(path, f"spaces and control characters are not allowed: {text!r}")
    if text.startswith("/"):
        return text
    try:
        _http_parts(text)
    except ValueError:
        message = f"expected a path starting with / or a full URL, got {text!r}"
        raise _Invalid(path, message) from None
    return text


def _headers(value: Any, path: KeyPath) -> tuple[tuple[str, str], ...]:
    table = _table(value, path, hint="header name = value")
    out = []
    for name, raw in table.items():
        try:
            _check_header(name, _text(raw, (*path, name)))
        except ValueError as exc:
            raise _Invalid((*path, name), str(exc)) from None
        out.append((name, raw))
    return tuple(out)


def _check_header(name: str, value: str) -> None:
    if not _TOKEN.fullmatch(name):
        raise ValueError(f"bad header name {name!r}")
    if any(c in value for c in "\r\n\0"):
        raise ValueError(f"header {name} has a line break or NUL in its value")


def _statuses(value: Any, path: KeyPath) -> tuple[tuple[int, int], ...]:
    try:
        return parse_statuses(value)
    except ValueError as exc:
        raise _Invalid(path, str(exc)) from None


def _status_ranges(part: Any) -> list[tuple[int, int]]:
    if isinstance(part, int) and not isinstance(part, bool):
        return [_status_range(part, part, part)]
    if not isinstance(part, str):
        raise ValueError(f'expected a status, a range "200-399" or a list, got {_show(part)}')
    out = []
    for piece in part.split(","):
        lo, sep, hi = piece.strip().partition("-")
        try:
            low = int(lo)
            high = int(hi) if sep else low
        except ValueError:
            message = f"bad status range {piece.strip()!r} (expected e.g. 200-299)"
            raise ValueError(message) from None
        out.append(_status_range(low, high, piece.strip()))
    return out


def _status_range(lo: int, hi: int, shown: Any) -> tuple[int, int]:
    if not 100 <= lo <= hi <= 599:
        raise ValueError(f"bad status range {shown!r} (statuses are 100..599, low to high)")
    return lo, hi


def _thresholds(value: Any, path: KeyPath) -> tuple[Threshold, ...]:
    """Parsed entry by entry, so an error can point at the very expression that is wrong."""
    table = _table(value, path, hint='metric = ["expression", ...]')
    out: list[Threshold] = []
    for key, entries in table.items():
        try:
            parse_key(key)
        except ConfigError as exc:
            raise _Invalid((*path, key), exc.message) from None
        listed = isinstance(entries, list)
        for i, entry in enumerate(entries if listed else [entries]):
            where = (*path, key, i) if listed else (*path, key)
            try:
                out.extend(parse_thresholds({key: [entry]}))
            except ConfigError as exc:
                raise _Invalid(_threshold_path(where, key, entry, exc.key), exc.message) from None
            except (AttributeError, TypeError):  # parse_duration on a non-string value
                raise _Invalid(where, f"bad threshold entry {_show(entry)}") from None
    return tuple(out)


def _threshold_path(where: KeyPath, key: str, entry: Any, error_key: str) -> KeyPath:
    """parse_thresholds names `key.option` in its own spelling; find the user's."""
    prefix = f"{key}."
    if error_key.startswith(prefix) and isinstance(entry, Mapping):
        return (*where, _spelled(entry, error_key[len(prefix) :]))
    return where


def _load(value: Any, path: KeyPath) -> ExecutorConfig:
    table = _table(value, path, hint="k6 executor options")
    _precheck_load(table, path)
    try:
        return ExecutorConfig.from_options(table)
    except ConfigError as exc:
        raise _Invalid((*path, *_option_path(table, exc.key)), exc.message) from None
    except (AttributeError, TypeError) as exc:  # a safety net: see _precheck_load
        raise _Invalid(path, f"bad option value: {exc}") from None


def _precheck_load(table: Mapping[str, Any], path: KeyPath) -> None:
    """parse_duration lets AttributeError out for arrays, tables and dates; name the key first."""
    for key, value in table.items():
        if _snake(key) == "stages" and isinstance(value, list):
            for i, stage in enumerate(value):
                for part in ("duration", "target"):
                    if isinstance(stage, Mapping) and part in stage:
                        _scalar(stage[part], (*path, key, i, part))
        else:
            _scalar(value, (*path, key))


def _scalar(value: Any, path: KeyPath) -> None:
    if not isinstance(value, str | int | float):
        raise _Invalid(path, f"expected a number or a string, got {_show(value)}")


_OPTION_PART = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def _option_path(table: Mapping[str, Any], key: str) -> KeyPath:
    """Split "stages[1].target" into ("stages", 1, "target"), spelled as the user wrote it."""
    parts: list[str | int] = [
        int(m.group(1)) if m.group(1) is not None else m.group(2)
        for m in _OPTION_PART.finditer(key)
    ]
    if parts and isinstance(parts[0], str):
        parts[0] = _spelled(table, parts[0])
    return tuple(parts)


def _spelled(table: Mapping[str, Any], key: str) -> str:
    want = _snake(key)
    return next((k for k in table if _snake(k) == want), key)


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


_FIELDS: dict[str, Callable[[Any, KeyPath], Any]] = {
    "name": _name,
    "description": _text,
    "base_url": _base_url,
    "headers": _headers,
    "vus": _whole,
    "rate": _positive,
    "max_vus": _whole,
    "time_scale": _positive,
    "duration": _seconds,
    "client": _client,
    "timeout": _seconds,
    "connect_timeout": _seconds,
    "insecure": _flag,
    "expected_statuses": _statuses,
    "workers": _whole,
    "thresholds": _thresholds,
    "load": _load,
    "deploy": _deploy,
}


# --------------------------------------------------------------------------- URLs


def _has_space_or_control(text: str) -> bool:
    return any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in text)


def _http_parts(url: str) -> Any:
    """urlsplit, but only for http(s) URLs with a host, a valid port and no credentials."""
    if _has_space_or_control(url):
        raise ValueError(f"spaces and control characters are not allowed in {url!r}")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"expected an http:// or https:// URL, got {url!r}")
    if not parts.hostname:
        raise ValueError(f"no host in {url!r}")
    if "@" in parts.netloc:
        raise ValueError(f"credentials in the URL are not supported: {url!r} (send a header)")
    try:
        parts.port  # noqa: B018 - urlsplit validates the port lazily
    except ValueError:
        raise ValueError(f"bad port in {url!r}") from None
    return parts


def _http_base(url: str) -> str:
    parts = _http_parts(url.strip())
    if parts.query or parts.fragment:
        raise ValueError(f"a base URL takes no query or fragment: {url!r}")
    return f"{parts.scheme.lower()}://{parts.netloc}{parts.path.rstrip('/')}"


def _split_url(url: str) -> tuple[str, str]:
    parts = _http_parts(url.strip())
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return f"{parts.scheme.lower()}://{parts.netloc}", target


def _one_line(text: str) -> str:
    return " ".join(text.splitlines())


# ------------------------------------------------------------------ line locator

_BARE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_HEX = frozenset("0123456789abcdefABCDEF")
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", "e": "\x1b"}
_SCALAR_END = frozenset(",]}#\n")
_MAX_DEPTH = 64


@lru_cache(maxsize=16)
def _line_map(text: str) -> Mapping[KeyPath, int]:
    return MappingProxyType(_Locator(text).run())


class _Locator:
    """Just enough of a TOML lexer to know on which line each key path starts.

    It never evaluates values and never raises: on text that is not TOML it skips
    what it cannot read and every loop advances, so it always ends.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.lines: dict[KeyPath, int] = {}
        self.arrays: dict[KeyPath, int] = {}
        self.table: KeyPath = ()

    def run(self) -> dict[KeyPath, int]:
        n = len(self.text)
        while self.pos < n:
            start = self.pos
            self._skip_blank()
            if self.pos >= n:
                break
            if self.text[self.pos] == "[":
                self._header()
            else:
                self._key_value(self.table, 0)
            self._skip_line()
            if self.pos == start:
                self._step()
        return self.lines

    # -- positions

    def _peek(self, ahead: int = 0) -> str:
        i = self.pos + ahead
        return self.text[i] if i < len(self.text) else ""

    def _step(self) -> None:
        if self.pos < len(self.text):
            if self.text[self.pos] == "\n":
                self.line += 1
            self.pos += 1

    def _mark(self, path: KeyPath, line: int) -> None:
        for end in range(1, len(path) + 1):
            self.lines.setdefault(path[:end], line)

    # -- whitespace

    def _skip_ws(self) -> None:
        while self._peek() in (" ", "\t", "\r"):
            self.pos += 1

    def _skip_blank(self) -> None:
        """Whitespace, newlines and comments: what may sit between array elements."""
        while True:
            self._skip_ws()
            ch = self._peek()
            if ch == "#":
                while self._peek() not in ("\n", ""):
                    self.pos += 1
            elif ch == "\n":
                self._step()
            else:
                return

    def _skip_line(self) -> None:
        while self._peek() not in ("\n", ""):
            self.pos += 1
        self._step()

    # -- keys and tables

    def _header(self) -> None:
        line = self.line
        self.pos += 1
        is_array = self._peek() == "["
        if is_array:
            self.pos += 1
        keys = self._keys()
        if keys is None:
            return
        self.table = self._resolve(keys, is_array)
        self._mark(self.table, line)

    def _resolve(self, keys: list[str], is_array: bool) -> KeyPath:
        """Insert array-of-tables indices: [endpoints.checks] under the 2nd [[endpoints]]."""
        path: KeyPath = ()
        for i, key in enumerate(keys):
            path = (*path, key)
            if is_array and i == len(keys) - 1:
                index = self.arrays.get(path, -1) + 1
                self.arrays[path] = index
                path = (*path, index)
            elif path in self.arrays:
                path = (*path, self.arrays[path])
        return path

    def _keys(self) -> list[str] | None:
        keys: list[str] = []
        while True:
            self._skip_ws()
            key = self._simple_key()
            if key is None:
                return None
            keys.append(key)
            self._skip_ws()
            if self._peek() != ".":
                return keys
            self.pos += 1

    def _simple_key(self) -> str | None:
        ch = self._peek()
        if ch == '"':
            return self._basic_string()
        if ch == "'":
            return self._literal_string()
        start = self.pos
        while self._peek() in _BARE_CHARS:
            self.pos += 1
        return self.text[start : self.pos] or None

    def _key_value(self, table: KeyPath, depth: int) -> None:
        line = self.line
        keys = self._keys()
        if keys is None:
            return
        path = (*table, *keys)
        self._mark(path, line)
        self._skip_ws()
        if self._peek() == "=":
            self.pos += 1
            self._value(path, depth)

    # -- values

    def _value(self, path: KeyPath, depth: int) -> None:
        self._skip_ws()
        rest = self.text[self.pos : self.pos + 3]
        ch = rest[:1]
        if rest in ('"""', "'''"):
            self._multiline_string(rest)
        elif ch == '"':
            self._basic_string()
        elif ch == "'":
            self._literal_string()
        elif ch == "[" and depth < _MAX_DEPTH:
            self._array(path, depth + 1)
        elif ch == "{" and depth < _MAX_DEPTH:
            self._inline_table(path, depth + 1)
        else:
            while self._peek() and self._peek() not in _SCALAR_END:
                self.pos += 1

    def _array(self, path: KeyPath, depth: int) -> None:
        self.pos += 1
        index = 0
        while self.pos < len(self.text):
            self._skip_blank()
            ch = self._peek()
            if ch in ("]", ""):
                self.pos += 1 if ch else 0
                return
            if ch == ",":
                self.pos += 1
                continue
            start = self.pos
            self._mark((*path, index), self.line)
            self._value((*path, index), depth)
            index += 1
            if self.pos == start:
                self._step()

    def _inline_table(self, path: KeyPath, depth: int) -> None:
        self.pos += 1
        while self.pos < len(self.text):
            self._skip_blank()
            ch = self._peek()
            if ch in ("}", ""):
                self.pos += 1 if ch else 0
                return
            if ch == ",":
                self.pos += 1
                continue
            start = self.pos
            self._key_value(path, depth)
            if self.pos == start:
                self._step()

    # -- strings

    def _basic_string(self) -> str:
        """A one-line "..." string, decoded (keys may be quoted); stops at a line end."""
        self.pos += 1
        out: list[str] = []
        while True:
            ch = self._peek()
            if ch in ("", "\n"):
                return "".join(out)
            if ch == '"':
                self.pos += 1
                return "".join(out)
            if ch == "\\":
                out.append(self._escape())
                continue
            out.append(ch)
            self.pos += 1

    def _escape(self) -> str:
        esc = self._peek(1)
        width = {"u": 4, "U": 8, "x": 2}.get(esc, 0)
        if width:
            digits = self.text[self.pos + 2 : self.pos + 2 + width]
            valid = len(digits) == width and all(c in _HEX for c in digits)
            if valid and int(digits, 16) < 0x110000:
                self.pos += 2 + width
                return chr(int(digits, 16))
        if esc in ("", "\n"):
            self.pos += 1
            return "\\"
        self.pos += 2
        return _ESCAPES.get(esc, esc)

    def _literal_string(self) -> str:
        self.pos += 1
        start = self.pos
        while self._peek() not in ("'", "\n", ""):
            self.pos += 1
        text = self.text[start : self.pos]
        if self._peek() == "'":
            self.pos += 1
        return text

    def _multiline_string(self, delimiter: str) -> None:
        self.pos += 3
        while self.pos < len(self.text):
            if self.text.startswith(delimiter, self.pos):
                self.pos += 3
                extra = 0  # content may end in one or two quotes: """a""""" is 'a""'
                while extra < 2 and self._peek() == delimiter[0]:
                    self.pos += 1
                    extra += 1
                return
            if delimiter == '"""' and self._peek() == "\\":
                self.pos += 1
            self._step()
