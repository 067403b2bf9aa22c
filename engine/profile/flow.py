"""The `[flow]` table (also read as `[scenario]`): steps, captures, polling, think time."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from engine.errors import ConfigError
from engine.load.checks import Check, parse_check
from engine.load.flow import (
    BUILTINS,
    CONTINUE,
    DATA_ENDS,
    DATA_ORDERS,
    ON_FAILURE,
    Capture,
    Flow,
    Poll,
    Step,
    Template,
    load_data,
)
from engine.profile import fields, http_fields
from engine.profile.fields import Invalid
from engine.profile.locate import KeyPath, format_key

FLOW_KEYS = ("name", "data", "data_order", "data_end", "steps", "on_failure")
STEP_KEYS = (
    *http_fields.REQUEST_KEYS,
    "capture",
    "think",
    "until",
    "on_failure",
    "expected_statuses",
    "max_redirects",
    "group",
)
CAPTURE_KINDS = ("json", "header", "regex")


def parse_flow(
    value: Any,
    path: KeyPath,
    profile_headers: Sequence[tuple[str, str]],
    base_dir: Path,
    variables: Iterable[str] = (),
) -> Flow:
    """`variables`: names known beside the flow's own (`setup.NAME`, what setup captures)."""
    table = fields.table(value, path, hint=f"[{format_key(path)}]")
    fields.known_keys(table, path, FLOW_KEYS)
    data: tuple[dict[str, str], ...] = ()
    if "data" in table:
        file = http_fields.profile_file(
            fields.text(table["data"], (*path, "data")), base_dir, (*path, "data")
        )
        try:
            data = load_data(file)
        except (OSError, ValueError) as exc:
            # The reason's kind only: a parser's message could quote the file's content.
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise Invalid((*path, "data"), f"cannot read {file} as CSV or JSON ({why})") from None
        if not data:
            raise Invalid((*path, "data"), f"{file} has no rows")
    order = _one_of(table.get("data_order", "vu"), (*path, "data_order"), DATA_ORDERS)
    end = _one_of(table.get("data_end", "wrap"), (*path, "data_end"), DATA_ENDS)
    if end == "stop" and order != "iteration":
        message = 'stops when the rows run out in data_order = "iteration" only'
        raise Invalid((*path, "data_end"), message)
    raw_steps = table.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise Invalid((*path, "steps"), f"expected at least one [[{format_key(path)}.steps]] table")
    default = _on_failure(table.get("on_failure", CONTINUE), (*path, "on_failure"))
    columns = {f"data.{col}" for col in (data[0] if data else {})}
    known = set(BUILTINS) | columns | set(variables)
    steps: list[Step] = []
    for i, raw in enumerate(raw_steps):
        step = _step(raw, (*path, "steps", i), profile_headers, known, default, base_dir)
        if any(s.name == step.name for s in steps):
            raise Invalid((*path, "steps", i, "name"), f"duplicate step name {step.name!r}")
        steps.append(step)
        known |= {c.name for c in step.captures}
        if (
            step.group
            and any(s.group == step.group for s in steps[:-1])
            and steps[-2].group != step.group
        ):
            message = f"the steps of group {step.group!r} must follow one another"
            raise Invalid((*path, "steps", i, "group"), message)
    name = fields.name(table["name"], (*path, "name")) if "name" in table else "flow"
    return Flow(name, tuple(steps), data, order, end)


_NAME = re.compile(r"data\.[A-Za-z_][A-Za-z0-9_]*")


def _hint(known: set[str]) -> str:
    """The variables a template may use; data columns only when they are plain names
    (a header row of something that is not a data file is never echoed)."""
    shown = sorted(k for k in known if not k.startswith("data.") or _NAME.fullmatch(k))
    hidden = len(known) - len(shown)
    return ", ".join(shown) + (f" and {hidden} data columns" if hidden else "")


def _on_failure(value: Any, path: KeyPath) -> str:
    return _one_of(value, path, ON_FAILURE)


def _one_of(value: Any, path: KeyPath, allowed: Sequence[str]) -> str:
    if value not in allowed:
        known = ", ".join(map(repr, allowed))
        raise Invalid(path, f"expected one of {known}, got {fields.describe(value)}")
    return str(value)


def _step(
    value: Any,
    path: KeyPath,
    profile_headers: Sequence[tuple[str, str]],
    known: set[str],
    on_failure: str = CONTINUE,
    folder: Path | None = None,
) -> Step:
    table = fields.table(value, path, hint=f"[[{format_key(path[:-2])}.steps]]")
    fields.known_keys(table, path, STEP_KEYS)
    method = http_fields.method(table.get("method", "GET"), (*path, "method"))
    raw_path = fields.text(table.get("path", "/"), (*path, "path"))
    headers = http_fields.headers(table.get("headers", {}), (*path, "headers"))
    raw_path, credentials = http_fields.credentials(table, path, raw_path, headers)
    http_fields.target(_VAR_SUB.sub("x", raw_path), (*path, "path"))
    body, headers = http_fields.body_template(table, path, headers, profile_headers, folder)
    body_key = http_fields.body_key(table) or "body"
    step = Step(
        name=fields.name(table["name"], (*path, "name"))
        if "name" in table
        else f"{method} {raw_path}",
        method=method,
        path=_template(raw_path, (*path, "path")),
        headers=tuple((k, _template(v, (*path, "headers", k))) for k, v in headers),
        body=body,
        checks=http_fields.checks(table.get("checks", []), (*path, "checks")),
        captures=_captures(table.get("capture", {}), (*path, "capture")),
        think=_think(table.get("think", 0), (*path, "think")),
        poll=_poll(table["until"], (*path, "until")) if "until" in table else None,
        on_failure=_on_failure(table.get("on_failure", on_failure), (*path, "on_failure")),
        expected_statuses=http_fields.statuses(
            table["expected_statuses"], (*path, "expected_statuses")
        )
        if "expected_statuses" in table
        else None,
        max_redirects=http_fields.max_redirects(table["max_redirects"], (*path, "max_redirects"))
        if "max_redirects" in table
        else None,
        tags=http_fields.tags(table["tags"], (*path, "tags")) if "tags" in table else (),
        group=_group(table["group"], (*path, "group")) if "group" in table else "",
        timeout=fields.seconds(table["timeout"], (*path, "timeout"))
        if "timeout" in table
        else None,
        auth=(
            _template(credentials[0], (*path, "auth")),
            _template(credentials[1], (*path, "auth")),
        )
        if credentials is not None
        else None,
    )
    for where, template in (
        (("path",), step.path),
        *((("headers", k), t) for k, t in step.headers),
        *([((body_key,), step.body)] if step.body is not None else []),
        *((("auth",), t) for t in step.auth or ()),
        *check_templates((("checks", i), c) for i, c in enumerate(step.checks)),
        *check_templates([(("until",), step.poll.until)] if step.poll else []),
    ):
        for name in template.names:
            if name not in known:
                hint = _hint(known)
                raise Invalid((*path, *where), f"unknown variable ${{{name}}} (known: {hint})")
    return step


def _template(text: str, path: KeyPath) -> Template:
    try:
        return Template.compile(text)
    except ValueError as exc:
        raise Invalid(path, str(exc)) from None


def _group(value: Any, path: KeyPath) -> str:
    """k6's group name: its path is the parent's and "::" and the name, so no "::" in it."""
    name = fields.name(value, path)
    if "::" in name:
        raise Invalid(path, f"a group name has no '::' (groups nest by their path): {name!r}")
    return name


def check_templates(
    located: Iterable[tuple[KeyPath, Check]],
) -> Iterator[tuple[KeyPath, Template]]:
    """Each check value's placeholders, under the key that holds it: a check's value takes
    the variables a path does (`equals = "u${vu}"`)."""
    for where, check in located:
        for text in check.texts():
            yield (*where, check.value_key), _template(text, (*where, check.value_key))


_VAR_SUB = re.compile(r"\$\{[^}]*\}")


def _captures(value: Any, path: KeyPath) -> tuple[Capture, ...]:
    table = fields.table(value, path, hint='name = { json = "a.b" }')
    out = []
    for name, spec in table.items():
        where = (*path, name)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or name in BUILTINS:
            raise Invalid(where, f"bad variable name {name!r}")
        spec_table = fields.table(
            spec, where, hint='{ json = "path" }, { header = "name" } or { regex = "..." }'
        )
        if len(spec_table) != 1 or next(iter(spec_table)) not in CAPTURE_KINDS:
            raise Invalid(where, f"expected exactly one of {', '.join(CAPTURE_KINDS)}")
        kind, expr = next(iter(spec_table.items()))
        expr = fields.name(expr, (*where, kind))
        if kind == "regex":
            try:
                re.compile(expr)
            except re.error as exc:
                raise Invalid((*where, kind), f"bad regex: {exc}") from None
        out.append(Capture(name, kind, expr))
    return tuple(out)


def _think(value: Any, path: KeyPath) -> tuple[float, float]:
    """`think = "1s"` or a range `"0.5s-2s"`: a pause after the step, as a user reads."""
    if isinstance(value, str) and "-" in value.strip()[1:]:
        lo_text, _, hi_text = value.partition("-")
        lo, hi = _seconds_or_zero(lo_text, path), _seconds_or_zero(hi_text, path)
        if hi < lo:
            raise Invalid(path, f"range goes backwards: {value!r}")
        return lo, hi
    seconds = _seconds_or_zero(value, path)
    return seconds, seconds


def _seconds_or_zero(value: Any, path: KeyPath) -> float:
    if value == 0:
        return 0.0
    return fields.seconds(value.strip() if isinstance(value, str) else value, path)


def _poll(value: Any, path: KeyPath) -> Poll:
    table = dict(fields.table(value, path, hint='{ json = "status", equals = "done", tries = 30 }'))
    tries = fields.whole(table.pop("tries", 30), (*path, "tries"))
    every = fields.seconds(table.pop("every", "500ms"), (*path, "every"))
    try:
        check = parse_check(table)
    except ConfigError as exc:
        raise Invalid((*path, exc.key) if exc.key in table else path, exc.message) from None
    return Poll(check, tries, every)
