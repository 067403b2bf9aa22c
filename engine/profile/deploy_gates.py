"""`[[deploy.metrics]]` and `[deploy.hooks]`: validated into plain values
(engine.deploy.gates.spec) when the profile loads, each mistake an `Invalid` at its key,
so a bad condition or a typo'd hook is file:line:key and exit 2, never a surprise in the
middle of a rollout.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.addresses import is_url
from engine.deploy.gates.conditions import Condition, parse_condition
from engine.deploy.gates.providers import PrometheusProvider, Provider, WebProvider, parse_json_path
from engine.deploy.gates.spec import HOOKS, ON_REFUSE, GatesPlan, HookSpec, MetricSpec
from engine.profile import fields
from engine.profile.fields import Invalid, describe
from engine.profile.locate import KeyPath

__all__ = ["METRIC_KEYS", "parse_gates"]

METRIC_KEYS = (
    "name",
    "prometheus",
    "query",
    "web",
    "json",
    "success",
    "failure",
    "every",
    "count",
    "failure_limit",
    "inconclusive_limit",
    "consecutive_error_limit",
    "timeout",
)
HOOK_KEYS = ("command", "url", "timeout", "metadata")


def parse_gates(table: Mapping[str, Any], path: KeyPath) -> GatesPlan:
    """The `metrics` and `hooks` keys of a `[deploy]` table (absent: an empty plan)."""
    metrics = _metrics(table["metrics"], (*path, "metrics")) if "metrics" in table else ()
    hooks: dict[str, HookSpec] = {}
    on_refuse = "rollback"
    if "hooks" in table:
        at = (*path, "hooks")
        given = fields.table(table["hooks"], at, hint="[deploy.hooks]")
        fields.known_keys(given, at, (*HOOKS, "on_refuse"))
        hooks = {h: _hook(h, given[h], (*at, h)) for h in HOOKS if h in given}
        if "on_refuse" in given:
            on_refuse = fields.text(given["on_refuse"], (*at, "on_refuse"))
            if on_refuse not in ON_REFUSE:
                message = f"expected one of {', '.join(ON_REFUSE)}, got {on_refuse!r}"
                raise Invalid((*at, "on_refuse"), message)
    return GatesPlan(metrics, hooks, on_refuse)


def _metrics(value: Any, path: KeyPath) -> tuple[MetricSpec, ...]:
    if not isinstance(value, list) or not value:
        hint = "one [[deploy.metrics]] table per metric"
        raise Invalid(path, f"expected an array of tables ({hint}), got {describe(value)}")
    out: list[MetricSpec] = []
    for i, t in enumerate(value):
        spec = _metric(fields.table(t, (*path, i), hint="[[deploy.metrics]]"), (*path, i))
        if any(m.name == spec.name for m in out):
            raise Invalid((*path, i, "name"), f"duplicate metric name {spec.name!r}")
        out.append(spec)
    return tuple(out)


def _metric(t: Mapping[str, Any], path: KeyPath) -> MetricSpec:
    def at(key: str) -> KeyPath:
        return (*path, key)

    fields.known_keys(t, path, METRIC_KEYS)
    if "name" not in t:
        raise Invalid(at("name"), 'required: the metric\'s name, e.g. "error_rate"')
    name = fields.name(t["name"], at("name"))
    success = _condition(t, at("success"))
    failure = _condition(t, at("failure"))
    if success is None and failure is None:
        raise Invalid(path, 'give success or failure (or both), e.g. success = "result < 0.01"')
    count = fields.integer(t["count"], at("count"), 1, 10_000) if "count" in t else None

    def limit(key: str, default: int) -> int:
        return fields.integer(t.get(key, default), at(key), 0, 10_000)

    return MetricSpec(
        name,
        _provider(t, path),
        success,
        failure,
        every=fields.seconds(t.get("every", "10s"), at("every")),
        count=count,
        failure_limit=limit("failure_limit", 0),
        inconclusive_limit=limit("inconclusive_limit", 0),
        consecutive_error_limit=limit("consecutive_error_limit", 4),
        timeout=fields.seconds(t.get("timeout", "5s"), at("timeout")),
    )


def _provider(t: Mapping[str, Any], path: KeyPath) -> Provider:
    """`prometheus` + `query`, or `web` + `json`: one source a metric."""
    given = [k for k in ("prometheus", "web") if k in t]
    if len(given) != 1:
        what = "both" if given else "neither"
        message = f"give prometheus (a URL, with query) or web (a URL, with json): {what} given"
        raise Invalid((*path, given[-1]) if given else path, message)
    kind = given[0]
    other, partner = ("web", "json") if kind == "prometheus" else ("prometheus", "query")
    if partner in t:
        raise Invalid((*path, partner), f"applies to {other} metrics")
    url = _url(t[kind], (*path, kind))
    if kind == "prometheus":
        if "query" not in t:
            raise Invalid((*path, "query"), 'required: the PromQL query, e.g. "sum(rate(...))"')
        return PrometheusProvider(url, fields.name(t["query"], (*path, "query")))
    if "json" not in t:
        raise Invalid((*path, "json"), 'required: the path to the number, e.g. "$.data.errors"')
    text = fields.name(t["json"], (*path, "json"))
    try:
        steps = parse_json_path(text)
    except ValueError as exc:
        raise Invalid((*path, "json"), str(exc)) from None
    return WebProvider(url, text, steps)


def _condition(t: Mapping[str, Any], path: KeyPath) -> Condition | None:
    if path[-1] not in t:
        return None
    try:
        return parse_condition(fields.text(t[path[-1]], path))
    except ValueError as exc:
        raise Invalid(path, str(exc)) from None


def _url(value: Any, path: KeyPath) -> str:
    url = fields.name(value, path)
    if not is_url(url):
        raise Invalid(path, f"expected an http:// or https:// URL, got {url!r}")
    return url


def _hook(hook: str, value: Any, path: KeyPath) -> HookSpec:
    """A command (`command = ["argv", ...]`, no shell) or a webhook (`url`)."""
    t = fields.table(value, path, hint='e.g. { command = ["./check.sh"] } or { url = "..." }')
    fields.known_keys(t, path, HOOK_KEYS)
    if ("command" in t) == ("url" in t):
        raise Invalid(path, "give command (an argv list) or url (a webhook), one of them")
    timeout = fields.seconds(t.get("timeout", "30s"), (*path, "timeout"))
    if "url" in t:
        meta = fields.table(t.get("metadata", {}), (*path, "metadata"))
        metadata = {str(k): fields.text(v, (*path, "metadata", k)) for k, v in meta.items()}
        return HookSpec(
            hook, url=_url(t["url"], (*path, "url")), timeout=timeout, metadata=metadata
        )
    if "metadata" in t:
        raise Invalid((*path, "metadata"), "applies to webhooks (url)")
    argv = t["command"]
    if not isinstance(argv, list) or not argv:
        wanted = 'a non-empty list of strings, e.g. ["./check.sh", "--green"]'
        message = f"expected {wanted}, got {describe(argv)}"
        raise Invalid((*path, "command"), message)
    command = tuple(fields.text(a, (*path, "command", i)) for i, a in enumerate(argv))
    return HookSpec(hook, command=command, timeout=timeout)
