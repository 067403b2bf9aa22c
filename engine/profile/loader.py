"""Profiles: the TOML files a user writes, validated on load into frozen dataclasses.

Every mistake becomes one `ProfileError` line, "file:line: key: message", because
a load test that dies half-way over a typo costs far more than a strict loader.
This module finds and reads a profile and walks its top-level tables; each table's
own rules live beside it (fields, http_fields, flow, deploy), and `locate`
says on which line a bad key path is written.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import profiles
from engine.errors import ConfigError
from engine.explore.capacity import CapacitySettings
from engine.limits import MAX_RATE, MAX_TIME_SCALE, MAX_VUS, MAX_WORKERS
from engine.load.executors import EXECUTORS, ExecutorConfig
from engine.load.flow import Flow, basic_auth
from engine.load.run import ClientKind, OnWorkerLoss
from engine.load.testtypes import resolve
from engine.load.thresholds import Threshold, parse_key, parse_thresholds
from engine.profile import fields, http_fields, scenarios
from engine.profile.deploy import DeployPlan, deploy_plan
from engine.profile.fields import Invalid, describe
from engine.profile.flow import check_templates, parse_flow
from engine.profile.http_fields import METHODS
from engine.profile.locate import KeyPath, decode_toml, find_line, format_key
from engine.profile.model import Endpoint, Profile, ProfileError, ScenarioSpec
from engine.profile.observe import observe_spec
from engine.profile.scenarios import Binding

_PLACEHOLDER = re.compile(r"\$\{[^}]*\}")
ENV_KEYS = ("base_url", "headers", "vus", "rate", "max_vus", "description")
ENDPOINT_KEYS = (*http_fields.REQUEST_KEYS, "weight")
FLOW_RENAMED = (
    "[scenario] is now called [flow] (in k6's words a scenario is a workload, "
    "a flow the steps it runs): read as [flow]"
)
UNUSED_FLOW = "no scenario runs this flow (name it in a [scenarios.NAME]'s exec)"
TOP_KEYS = (
    "name",
    "description",
    "base_url",
    "headers",
    "vus",
    "rate",
    "max_vus",
    "time_scale",
    "test_type",
    "capacity",
    "duration",
    "client",
    "timeout",
    "connect_timeout",
    "insecure",
    "cacert",
    "cert",
    "key",
    "expected_statuses",
    "workers",
    "on_worker_loss",
    "max_body",
    "max_redirects",
    "http2",
    "endpoints",
    "thresholds",
    "load",
    "environments",
    "deploy",
    "flow",
    "scenario",  # the old name of [flow]: read, with a note
    "scenarios",
    "flows",
    "setup",
    "teardown",
    "tags",
    "hosts",
    "observe",
)


# --------------------------------------------------------------------------- API


def resolve_profile(target: str) -> Path:
    """The file `target` names: an existing path first, else a shipped profile of that name.

    Neither? The path as given, so reading it fails with the usual error naming it.
    """
    path = Path(target)
    if path.exists():
        return path
    return profiles.shipped(target) or path


def load_profile(
    path: str | Path,
    *,
    env: str | None = None,
    base_url: str | None = None,
    env_vars: Mapping[str, str] | None = None,
) -> Profile:
    """Read and validate a profile file; unreadable files are ProfileErrors too.

    `env_vars`: what `${env.NAME}` reads (-e over the process environment); None: the
    process environment."""
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
    return parse_profile(text, source, env=env, base_url=base_url, env_vars=env_vars)


def parse_profile(
    text: str,
    source: str,
    *,
    env: str | None = None,
    base_url: str | None = None,
    env_vars: Mapping[str, str] | None = None,
) -> Profile:
    """Validate profile text; `base_url` (--base-url) beats the environment's and the file's."""
    doc = decode_toml(text, source)
    variables = dict(os.environ if env_vars is None else env_vars)
    try:
        profile = _build(doc, source, env, base_url, variables)
    except Invalid as exc:
        line = find_line(text, exc.path) if exc.locate else None
        raise ProfileError(source, line, format_key(exc.path), exc.message) from None
    found = list(profile.deploy.notes) if profile.deploy is not None else []
    if "scenario" in doc:
        found.append((("scenario",), FLOW_RENAMED))
    run = {s.exec for s in profile.scenarios}
    found.extend((("flows", name), UNUSED_FLOW) for name in profile.flows if name not in run)
    if not found:
        return profile
    notes = tuple(
        str(ProfileError(source, find_line(text, path), format_key(path), message))
        for path, message in found
    )
    return replace(profile, notes=notes)


def adhoc_profile(
    url: str,
    *,
    method: str = "GET",
    headers: Sequence[tuple[str, str]] = (),
    body: bytes | None = None,
) -> Profile:
    """The profile behind `surge run URL`: one endpoint, everything else default;
    `user:password@` in the URL is Basic auth, and never part of a name."""
    url, credentials = http_fields.userinfo(url.strip())
    if credentials is not None:
        headers = (*headers, basic_auth(*credentials))
    try:
        base, target = http_fields.split_url(url)
    except ValueError as exc:
        raise ProfileError("<url>", None, "url", str(exc)) from None
    verb = method.strip().upper()
    if verb not in METHODS:
        raise ProfileError("<url>", None, "method", http_fields.bad_method(method))
    for name, value in headers:
        try:
            http_fields.check_header(name, value)
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
    http_fields.check_header(name, value)
    return name, value


def _build(
    doc: Mapping[str, Any],
    source: str,
    env: str | None,
    base_url: str | None,
    variables: Mapping[str, str],
) -> Profile:
    fields.known_keys(doc, (), TOP_KEYS)
    doc = scenarios.bind_top(doc, Binding(variables, {}))
    values = {k: _FIELDS[k](v, (k,)) for k, v in doc.items() if k in _FIELDS}
    envs = _environments(doc.get("environments", {}), ("environments",))
    if env is not None and env not in envs:
        known = ", ".join(envs) if envs else "none are defined"
        raise Invalid(("environments",), f"no environment {env!r} (known: {known})")
    if env is not None:
        values = _apply_environment(values, envs[env])
    if base_url is not None:
        values["base_url"] = _override_base_url(base_url)
    for required in ("name", "base_url"):
        if required not in values:
            raise Invalid((required,), _MISSING_HINTS[required])
    values.update(http_fields.tls_files(doc, Path(source).parent, values.get("insecure", False)))
    base, headers = http_fields.base_credentials(values["base_url"], values.get("headers", ()))
    values["base_url"], values["headers"] = base, headers
    if "test_type" in values and "load" in values:
        raise Invalid(("test_type",), "give test_type (a shape) or [load] (an executor), not both")
    values.update(_Workloads(doc, values, Path(source).parent, variables).read())
    return Profile(source=source, environment=env, environments=tuple(envs), **values)


class _Workloads:
    """The tables that say what runs: the default flow (`[flow]` or `[[endpoints]]`),
    `[flows.NAME]`, `[setup]`, `[teardown]` and `[scenarios.NAME]`, each flow bound to
    the env of the scenario that runs it and its absolute URLs checked against the
    origins a run may reach."""

    def __init__(
        self,
        doc: Mapping[str, Any],
        values: Mapping[str, Any],
        folder: Path,
        variables: Mapping[str, str],
    ) -> None:
        self.doc = doc
        self.headers: tuple[tuple[str, str], ...] = values.get("headers", ())
        self.folder = folder
        hosts = dict(values.get("hosts", ()))
        self.base = Binding(variables, hosts, templated=True)
        base_url = values["base_url"]
        self.origins = {scenarios.origin(url): url for url in (base_url, *hosts.values())}
        if "flow" in doc and "scenario" in doc:
            raise Invalid(("scenario",), "[scenario] is the old name of [flow]: give one of them")
        self.key = "scenario" if "scenario" in doc else "flow"
        if self.key in doc and "endpoints" in doc:
            raise Invalid((self.key,), f"give [[endpoints]] (unit test) or [{self.key}], not both")
        self.flows = fields.table(doc.get("flows", {}), ("flows",), hint="[flows.NAME]")
        self.known: frozenset[str] = frozenset()
        self._parsed: dict[tuple[str, tuple[tuple[str, str], ...]], Any] = {}

    def read(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        setup = self._side("setup")
        if setup is not None:
            out["setup"], out["setup_timeout"] = setup
        self.known = scenarios.setup_variables(out.get("setup"))
        teardown = self._side("teardown")
        if teardown is not None:
            out["teardown"], out["teardown_timeout"] = teardown
        specs = self._scenarios() if "scenarios" in self.doc else ()
        first = {s.exec: s.env for s in reversed(specs)}  # each flow as its first runner has it
        out["flow"], out["endpoints"] = self._runs("", first.get("", ()))
        out["flows"] = {name: self._runs(name, first.get(name, ()))[0] for name in self.flows}
        out["scenarios"] = specs
        return out

    def _runs(
        self, name: str, env: tuple[tuple[str, str], ...], who: str = ""
    ) -> tuple[Any, tuple[Endpoint, ...]]:
        """(flow, endpoints) of flow `name` ("": the default one) under a scenario's env."""
        memo = (name, env)
        if memo not in self._parsed:
            binding = Binding({**self.base.env, **dict(env)}, self.base.hosts, who, templated=True)
            self._parsed[memo] = self._parse(name, binding)
        return self._parsed[memo]

    def _parse(self, name: str, binding: Binding) -> tuple[Flow | None, tuple[Endpoint, ...]]:
        if name:
            path: KeyPath = ("flows", name)
            table = self.flows[name]
            if isinstance(table, dict) and "name" not in table:
                table = {**table, "name": name}
            return self._flow(table, path, binding), ()
        if self.key in self.doc:  # and `GET /` as endpoints, as ever
            flow = self._flow(self.doc[self.key], (self.key,), binding)
            return flow, _endpoints([], ("endpoints",), self.headers, self.folder)
        if "endpoints" not in self.doc and "scenarios" in self.doc:
            return None, ()  # no default flow: each scenario names its own (exec)
        raw = scenarios.bind_steps(self.doc.get("endpoints", []), ("endpoints",), binding)
        endpoints = _endpoints(raw, ("endpoints",), self.headers, self.folder)
        for i, endpoint in enumerate(endpoints):
            scenarios.check_origin(endpoint.path, ("endpoints", i, "path"), self.origins)
        return None, endpoints

    def _flow(self, table: Any, path: KeyPath, binding: Binding) -> Flow:
        bound = scenarios.bind_flow(table, path, binding)
        flow = parse_flow(bound, path, self.headers, self.folder, self.known)
        for i, step in enumerate(flow.steps):
            head = step.path.parts[0]
            if step.path.static or re.search(r"://[^/?#]*[/?#]", head):
                scenarios.check_origin(head, (*path, "steps", i, "path"), self.origins)
        return flow

    def _side(self, key: str) -> tuple[Flow, float] | None:
        """`[setup]` or `[teardown]`: a flow run once, and its timeout."""
        if key not in self.doc:
            return None
        table = fields.table(self.doc[key], (key,), hint=f"[{key}] with [[{key}.steps]]")
        timeout = scenarios.side_timeout(table, (key,))
        flow_table = {"name": key, **{k: v for k, v in table.items() if k != "timeout"}}
        return self._flow(flow_table, (key,), self.base), timeout

    def _scenarios(self) -> tuple[ScenarioSpec, ...]:
        path: KeyPath = ("scenarios",)
        table = fields.table(self.doc["scenarios"], path, hint="[scenarios.NAME]")
        if not table:
            raise Invalid(path, "expected at least one [scenarios.NAME] table")
        for other in ("load", "test_type"):
            if other in self.doc:
                raise Invalid(
                    (other,),
                    f"give [scenarios] (several workloads) or {other} (one), not both; "
                    "--type on the command line scales each scenario",
                )
        return tuple(self._scenario(name, raw, (*path, name)) for name, raw in table.items())

    def _scenario(self, name: str, raw: Any, path: KeyPath) -> ScenarioSpec:
        scenarios.scenario_name(name, path)
        table = fields.table(raw, path, hint="k6 scenario options")
        if "executor" not in table:
            raise Invalid((*path, "executor"), f"required (known: {', '.join(EXECUTORS)})")
        start = scenarios.start_time(table, path)
        options = {k: v for k, v in table.items() if k not in scenarios.SCENARIO_KEYS}
        executor = _load(options, path)
        runs = ""
        if "exec" in table:
            runs = scenarios.exec_name(table["exec"], (*path, "exec"), self.flows)
        elif self.key not in self.doc and "endpoints" not in self.doc:
            raise Invalid(
                (*path, "exec"),
                'required: the [flows.NAME] it runs (exec = "NAME"); without it a scenario '
                "runs the profile's [flow] or [[endpoints]], and there are none",
            )
        tags = scenarios.tags(table["tags"], (*path, "tags")) if "tags" in table else ()
        env = scenarios.env_table(table["env"], (*path, "env")) if "env" in table else ()
        flow, endpoints = self._runs(runs, env, f"scenario {name}")
        return ScenarioSpec(name, executor, start, runs, tags, env, flow, endpoints)


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
        return http_fields.http_base(text)
    except ValueError as exc:
        raise Invalid(("base_url",), f"bad --base-url: {exc}", locate=False) from None


def _environments(value: Any, path: KeyPath) -> dict[str, dict[str, Any]]:
    table = fields.table(value, path)
    out: dict[str, dict[str, Any]] = {}
    for name, env in table.items():
        where = (*path, name)
        env_table = fields.table(env, where, hint=f"[environments.{name}]")
        for key in env_table:
            if key not in ENV_KEYS:
                allowed = ", ".join(ENV_KEYS)
                raise Invalid((*where, key), f"an environment may set only: {allowed}")
        out[name] = {k: _FIELDS[k](v, (*where, k)) for k, v in env_table.items()}
    return out


def _endpoints(
    value: Any, path: KeyPath, profile_headers: Sequence[tuple[str, str]], folder: Path
) -> tuple[Endpoint, ...]:
    if not isinstance(value, list):
        raise Invalid(path, f"expected an array of tables ([[endpoints]]), got {describe(value)}")
    if not value:
        return (Endpoint(name="GET /"),)
    endpoints = [
        _endpoint(item, (*path, i), profile_headers, folder) for i, item in enumerate(value)
    ]
    first: dict[str, int] = {}
    for i, endpoint in enumerate(endpoints):
        if endpoint.name in first:
            also = f"also endpoints[{first[endpoint.name]}]"
            raise Invalid((*path, i, "name"), f"duplicate name {endpoint.name!r} ({also})")
        first[endpoint.name] = i
    return tuple(endpoints)


def _endpoint(
    value: Any, path: KeyPath, profile_headers: Sequence[tuple[str, str]], folder: Path
) -> Endpoint:
    table = fields.table(value, path, hint="[[endpoints]]")
    fields.known_keys(table, path, ENDPOINT_KEYS)
    for key in ("path", "headers", "body", "json", "form", "multipart"):
        # ${env.*} and ${hosts.*} are bound by now; an endpoint's request is encoded once,
        # so anything else would go out as its text.
        if key in table and (found := _PLACEHOLDER.search(repr(table[key]))):
            raise Invalid(
                (*path, key),
                f"{found.group(0)} needs a [flow] step (an endpoint's request is built once)",
            )
    method = http_fields.method(table.get("method", "GET"), (*path, "method"))
    headers = http_fields.headers(table.get("headers", {}), (*path, "headers"))
    target, credentials = http_fields.credentials(
        table, path, fields.text(table.get("path", "/"), (*path, "path")), headers
    )
    target = http_fields.target(target, (*path, "path"))
    if credentials is not None:
        headers = (*headers, basic_auth(*credentials))
    body, headers = http_fields.body(table, path, headers, profile_headers, folder)
    weight = fields.positive(table.get("weight", 1.0), (*path, "weight"))
    checks = http_fields.checks(table.get("checks", []), (*path, "checks"))
    for where, template in check_templates(((*path, "checks", i), c) for i, c in enumerate(checks)):
        if template.names:  # an endpoint has no variables: a check would compare the text
            message = f"unknown variable ${{{template.names[0]}}} (variables are a [flow]'s)"
            raise Invalid(where, message)
    name = fields.name(table["name"], (*path, "name")) if "name" in table else f"{method} {target}"
    tags = http_fields.tags(table["tags"], (*path, "tags")) if "tags" in table else ()
    timeout = fields.seconds(table["timeout"], (*path, "timeout")) if "timeout" in table else None
    return Endpoint(name, method, target, headers, body, weight, checks, tags, timeout)


def _deploy(value: Any, path: KeyPath) -> DeployPlan:
    return deploy_plan(fields.table(value, path, hint="[deploy]"), path)


def _client(value: Any, path: KeyPath) -> ClientKind:
    if fields.text(value, path) not in tuple(ClientKind):
        raise Invalid(path, f"unknown client {value!r} (known: {', '.join(ClientKind)})")
    return ClientKind(value)


def _test_type(value: Any, path: KeyPath) -> str:
    """A test type's canonical name (an alias such as "load" is read as "average")."""
    try:
        return resolve(fields.text(value, path)).name
    except ValueError as exc:
        raise Invalid(path, str(exc)) from None


CAPACITY_KEYS = ("hold", "start", "max", "precision")


def _capacity(value: Any, path: KeyPath) -> CapacitySettings:
    """`capacity = { hold = "15s", start = 10, max = 100000, precision = 0.05 }`: the
    search of `--type capacity`; each key checked where it stands."""
    table = fields.table(value, path, hint='capacity = { hold = "15s", start = 10 }')
    fields.known_keys(table, path, CAPACITY_KEYS)
    parse = {"hold": fields.seconds, "start": fields.positive, "max": fields.positive}
    kw = {k: parse.get(k, fields.fraction)(v, (*path, k)) for k, v in table.items()}
    try:
        return CapacitySettings(**kw)
    except ValueError as exc:
        raise Invalid((*path, str(exc).split()[0]), str(exc)) from None  # names its key


def _on_worker_loss(value: Any, path: KeyPath) -> OnWorkerLoss:
    if fields.text(value, path) not in tuple(OnWorkerLoss):
        raise Invalid(path, f'expected "continue" or "abort", got {value!r}')
    return OnWorkerLoss(value)


def _base_url(value: Any, path: KeyPath) -> str:
    try:
        return http_fields.http_base(fields.text(value, path))
    except ValueError as exc:
        raise Invalid(path, str(exc)) from None


def _thresholds(value: Any, path: KeyPath) -> tuple[Threshold, ...]:
    """Parsed entry by entry, so an error can point at the very expression that is wrong."""
    table = fields.table(value, path, hint='metric = ["expression", ...]')
    out: list[Threshold] = []
    for key, entries in table.items():
        try:
            parse_key(key)
        except ConfigError as exc:
            raise Invalid((*path, key), exc.message) from None
        listed = isinstance(entries, list)
        for i, entry in enumerate(entries if listed else [entries]):
            where = (*path, key, i) if listed else (*path, key)
            try:
                out.extend(parse_thresholds({key: [entry]}))
            except ConfigError as exc:
                raise Invalid(_threshold_path(where, key, entry, exc.key), exc.message) from None
            except (AttributeError, TypeError):  # parse_duration on a non-string value
                raise Invalid(where, f"bad threshold entry {describe(entry)}") from None
    return tuple(out)


def _threshold_path(where: KeyPath, key: str, entry: Any, error_key: str) -> KeyPath:
    """parse_thresholds names `key.option` in its own spelling; find the user's."""
    prefix = f"{key}."
    if error_key.startswith(prefix) and isinstance(entry, Mapping):
        return (*where, _spelled(entry, error_key[len(prefix) :]))
    return where


def _load(value: Any, path: KeyPath) -> ExecutorConfig:
    table = fields.table(value, path, hint="k6 executor options")
    _precheck_load(table, path)
    try:
        return ExecutorConfig.from_options(table)
    except ConfigError as exc:
        raise Invalid((*path, *_option_path(table, exc.key)), exc.message) from None
    except (AttributeError, TypeError) as exc:  # a safety net: see _precheck_load
        raise Invalid(path, f"bad option value: {exc}") from None


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
        raise Invalid(path, f"expected a number or a string, got {describe(value)}")


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
    "name": fields.name,
    "description": fields.text,
    "base_url": _base_url,
    "headers": http_fields.headers,
    "vus": fields.at_most(fields.whole, MAX_VUS),
    "rate": fields.at_most(fields.positive, MAX_RATE),
    "max_vus": fields.at_most(fields.whole, MAX_VUS),
    "time_scale": fields.at_most(fields.positive, MAX_TIME_SCALE),
    "test_type": _test_type,
    "capacity": _capacity,
    "duration": fields.seconds,
    "client": _client,
    "timeout": fields.seconds,
    "connect_timeout": fields.seconds,
    "insecure": fields.flag,
    "expected_statuses": http_fields.statuses,
    "max_body": http_fields.max_body,
    "max_redirects": http_fields.max_redirects,
    "http2": fields.flag,
    "workers": fields.at_most(fields.whole, MAX_WORKERS),
    "on_worker_loss": _on_worker_loss,
    "thresholds": _thresholds,
    "load": _load,
    "deploy": _deploy,
    "tags": scenarios.tags,
    "hosts": lambda value, path: tuple(scenarios.hosts(value, path).items()),
    "observe": observe_spec,
}


# ------------------------------------------------------------------ line locator
