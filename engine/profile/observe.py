"""`[observe]`: the server's side of a run, read into an `ObserveSpec`.

`targets` (Prometheus /metrics URLs; no path: /metrics), `metrics` (names to keep; none:
the curated set) and `query` (`{ url, exprs = { NAME = "PromQL" } }`, a Prometheus
server's API): the README's "The server's side" shows a whole table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from engine.observe.config import (
    SERIES_NAME,
    ObserveSpec,
    PromQuery,
    selector,
    server_url,
    target_url,
)
from engine.profile import fields
from engine.profile.fields import Invalid
from engine.profile.locate import KeyPath

__all__ = ["observe_spec", "observed"]

KEYS = ("targets", "metrics", "query")


def observe_spec(value: Any, path: KeyPath) -> ObserveSpec:
    table = fields.table(value, path, hint="[observe]")
    fields.known_keys(table, path, KEYS)
    targets = tuple(_url(u, (*path, "targets", i)) for i, u in _items(table, "targets", path))
    metrics = []
    for i, name in _items(table, "metrics", path):
        try:
            selector(fields.text(name, (*path, "metrics", i)))
        except ValueError as exc:
            raise Invalid((*path, "metrics", i), str(exc)) from None
        metrics.append(name.strip())
    query = _query(table["query"], (*path, "query")) if "query" in table else None
    if not targets and query is None:
        raise Invalid(path, "give targets (Prometheus /metrics URLs) or a query, or leave it out")
    return ObserveSpec(targets, tuple(metrics), query)


def _items(table: Any, key: str, path: KeyPath) -> list[tuple[int, Any]]:
    value = table.get(key, [])
    if not isinstance(value, list):
        raise Invalid((*path, key), f"expected a list, got {fields.describe(value)}")
    return list(enumerate(value))


def _url(value: Any, path: KeyPath, read: Callable[[str], str] = target_url) -> str:
    try:
        return read(fields.text(value, path))
    except ValueError as exc:
        raise Invalid(path, str(exc)) from None


def _query(value: Any, path: KeyPath) -> PromQuery:
    table = fields.table(value, path, hint='{ url = "...", exprs = { NAME = "PromQL" } }')
    fields.known_keys(table, path, ("url", "exprs"))
    for key in ("url", "exprs"):
        if key not in table:
            raise Invalid((*path, key), "required (the Prometheus server, the PromQL by name)")
    url = _url(table["url"], (*path, "url"), server_url)
    exprs = fields.table(table["exprs"], (*path, "exprs"), hint='{ NAME = "PromQL" }')
    if not exprs:
        raise Invalid((*path, "exprs"), "name at least one PromQL expression")
    pairs = []
    for name, expr in exprs.items():
        where = (*path, "exprs", name)
        if not SERIES_NAME.fullmatch(name):
            raise Invalid(where, "a series name is letters, digits and _")
        pairs.append((name, fields.name(expr, where)))
    return PromQuery(url, tuple(pairs))


def observed(spec: ObserveSpec, targets: tuple[str, ...]) -> ObserveSpec:
    """The profile's `[observe]` with `--observe URL`s beside its targets (each once)."""
    more = tuple(t for t in dict.fromkeys(targets) if t not in spec.targets)
    return replace(spec, targets=(*spec.targets, *more)) if more else spec
