"""k6-style checks: per-response assertions that feed the `checks` rate metric.

A failed check never fails a run by itself (a threshold on `checks` can), so
`evaluate` answers False instead of raising, whatever the server sent. Parsing
does all the work up front (paths split, durations parsed, needles encoded) so
that evaluation, which runs for every request, is a lookup and a comparison.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from engine.durations import format_duration, parse_duration
from engine.errors import ConfigError
from engine.http.body import over_note
from engine.http.response import Response

STATUS, HEADER, BODY_CONTAINS, JSON, DURATION_UNDER, BODY, DURATION = (
    "status",
    "header",
    "body_contains",
    "json",
    "duration_under",
    "body",
    "duration",
)
KINDS = (STATUS, HEADER, BODY_CONTAINS, JSON, DURATION_UNDER, BODY, DURATION)

# Numeric comparisons (a json value, the duration), as k6's `r.timings.duration < 500`.
_COMPARE: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "lt": ("<", lambda a, b: a < b),
    "le": ("<=", lambda a, b: a <= b),
    "gt": (">", lambda a, b: a > b),
    "ge": (">=", lambda a, b: a >= b),
}
_TEXT = ("contains", "not_contains", "matches")
# The comparison keys each kind accepts besides its own key and `name`.
_OPTIONS: dict[str, tuple[str, ...]] = {
    STATUS: (),
    HEADER: ("equals", "exists", *_TEXT),
    BODY_CONTAINS: (),
    JSON: ("equals", "exists", "not_contains", "matches", *_COMPARE),
    DURATION_UNDER: (),
    BODY: _TEXT,
    DURATION: tuple(_COMPARE),
}
_ALL_OPTIONS = ("equals", "exists", *_TEXT, *_COMPARE)
_KEYS = (*KINDS, *_ALL_OPTIONS, "name")

# Sentinels: a JSON path that leads nowhere, and a body that is not JSON.
_MISSING: Any = object()
_NOT_JSON: Any = object()

JsonPath = tuple[tuple[str, int | None], ...]


@dataclass(frozen=True)
class Check:
    """One assertion on a response; `name` is what reports and `checks{check:...}` show."""

    name: str
    kind: str
    statuses: frozenset[int] = frozenset()
    header: str = ""
    path: JsonPath = ()
    op: str = ""  # header and json checks: "contains" | "equals" | "exists"
    # A TOML value for `equals`, a str for `contains`, a bool for `exists`. Lists and
    # tables are unhashable, hence out of the hash (they still take part in ==).
    expected: Any = field(default=None, hash=False)
    needle: bytes = b""
    limit_s: float = 0.0
    pattern: re.Pattern[str] | None = field(default=None, compare=False)  # `matches`
    # Its value holds `${...}` placeholders (a flow step's variables): `bind` per pass.
    templated: bool = False

    def evaluate(self, response: Response, duration_s: float) -> bool:
        """True if the response passes; False, never an exception, for anything odd."""
        try:
            if self.kind == JSON:
                if response.cut_at is not None:
                    return False  # a prefix of a document is not the document
                return self.judge_json(_load_json(response.body))
            return self._judge(response, duration_s)
        except Exception:  # a check must never take a VU down
            return False

    @property
    def value_key(self) -> str:
        """The profile's key that holds the value (`equals`, `contains`, `body_contains`)."""
        return BODY_CONTAINS if self.kind == BODY_CONTAINS else self.op

    def texts(self) -> tuple[str, ...]:
        """The strings of its value, where placeholders may be (the profile checks them)."""
        if self.kind == BODY_CONTAINS:
            return (self.needle.decode(),)
        if self.op == "exists" or self.op in _COMPARE:
            return ()
        return tuple(_strings(self.expected))

    def bind(self, render: Callable[[str], str]) -> Check:
        """This check with its value's placeholders filled in by `render` (one pass's
        variables); its name stays as written, so every pass counts under one name."""
        if self.kind == BODY_CONTAINS:
            return replace(self, needle=render(self.needle.decode()).encode(), templated=False)
        expected = _render(self.expected, render)
        pattern = None
        if self.op == "matches":
            try:
                pattern = re.compile(expected)
            except re.error:  # a value made it a bad regex: the check fails, the VU goes on
                pattern = None
        return replace(self, expected=expected, pattern=pattern, templated=False)

    def judge_json(self, doc: Any) -> bool:
        """The json check on an already-parsed body, so several checks parse it once."""
        if doc is _NOT_JSON:
            return False
        found = _lookup(doc, self.path)
        op = self.op
        if op == "exists":
            return (found is not _MISSING) == self.expected
        if found is _MISSING:
            return False
        if op in _COMPARE:
            number = isinstance(found, int | float) and not isinstance(found, bool)
            return number and _COMPARE[op][1](found, self.expected)
        if op in _TEXT:
            return self._text(found if isinstance(found, str) else json.dumps(found))
        return _same(found, self.expected)

    def _judge(self, response: Response, duration_s: float) -> bool:
        kind = self.kind
        if kind == STATUS:
            return response.status in self.statuses
        if kind == DURATION_UNDER:
            return duration_s < self.limit_s
        if kind == DURATION:
            return _COMPARE[self.op][1](duration_s, self.limit_s)
        if kind == BODY_CONTAINS:
            return self.needle in response.body
        if kind == BODY:
            return self._text(response.text)
        value = response.header(self.header)
        if self.op == "exists":
            return (value is not None) == self.expected
        if value is None:
            return False
        if self.op in _TEXT:
            return self._text(value)
        return value == self.expected

    def _text(self, value: str) -> bool:
        """contains, not_contains or matches (a regex found anywhere, as re.search)."""
        if self.op == "matches":
            return self.pattern is not None and self.pattern.search(value) is not None
        return (self.expected in value) == (self.op == "contains")


def needs_body(check: Check) -> bool:
    """Whether the check reads the body (only then is it kept, and decoded)."""
    return check.kind in (BODY_CONTAINS, JSON, BODY)


def body_note(checks: Iterable[Check], response: Response, results: Iterable[bool]) -> str | None:
    """Why checks failed on a body Surge did not have whole, for the failures' error
    counts: "body over max_body (N bytes kept)" or "content-encoding X not decoded";
    None when no body check failed, or the body was whole."""
    if response.cut_at is None and response.undecodable is None:
        return None
    for check, ok in zip(checks, results, strict=False):
        if not ok and needs_body(check):
            if response.undecodable is not None:
                return f"content-encoding {response.undecodable} not decoded"
            return over_note(response.cut_at)  # type: ignore[arg-type]
    return None


def evaluate_checks(checks: Iterable[Check], response: Response, duration_s: float) -> list[bool]:
    """All checks of a step, decoding a JSON body at most once however many look at it."""
    doc: Any = _MISSING
    out: list[bool] = []
    for check in checks:
        if check.kind != JSON:
            out.append(check.evaluate(response, duration_s))
            continue
        if doc is _MISSING:
            doc = _NOT_JSON if response.cut_at is not None else _load_json(response.body)
        try:
            out.append(check.judge_json(doc))
        except Exception:
            out.append(False)
    return out


# k6's answer to a request that got none (a timeout, a refused connect): status 0, no
# headers, a null body; its `timings.duration` is still the time the request took.
_NO_RESPONSE = Response(status=0)


def judge_unanswered(checks: Iterable[Check], duration_s: float) -> list[bool]:
    """The checks of a request that got no response, as k6 judges its status-0 answer:
    a duration check on the time it took, a header's `exists = false` holds; a check
    that reads the body fails (k6's is null)."""
    return [
        c.kind not in (JSON, BODY, BODY_CONTAINS) and c.evaluate(_NO_RESPONSE, duration_s)
        for c in checks
    ]


def bind_checks(checks: tuple[Check, ...], render: Callable[[str], str]) -> tuple[Check, ...]:
    """`checks` with their placeholders filled in (the same tuple when none has any)."""
    if not any(c.templated for c in checks):
        return checks
    return tuple(c.bind(render) if c.templated else c for c in checks)


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)


def _render(value: Any, render: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return render(value)
    if isinstance(value, list):
        return [_render(v, render) for v in value]
    if isinstance(value, dict):
        return {k: _render(v, render) for k, v in value.items()}
    return value


def parse_check(table: Mapping[str, Any]) -> Check:
    """One inline table of an endpoint's `checks` array; ConfigError names the bad key."""
    if not isinstance(table, Mapping):
        raise ConfigError("check", f"expected a table such as {{ status = 200 }}, got {table!r}")
    for key in table:
        if key not in _KEYS:
            raise ConfigError(key, f"unknown key (known: {', '.join(_KEYS)})")
    kind = _kind_of(table)
    option = _option_of(table, kind)
    name = _name_of(table)
    check = _BUILDERS[kind](table, option)
    if name is not None:
        check = replace(check, name=name)
    if any("${" in text for text in check.texts()):
        check = replace(check, templated=True)
    elif check.op == "matches":
        check = replace(check, pattern=_regex(check.expected, check.op))
    return check


def _kind_of(table: Mapping[str, Any]) -> str:
    kinds = [k for k in table if k in KINDS]
    if len(kinds) > 1:
        raise ConfigError(kinds[1], f"a check has one kind, but {kinds[0]} is given too")
    if kinds:
        return kinds[0]
    stray = [k for k in table if k in _ALL_OPTIONS]
    if stray:
        raise ConfigError(stray[0], "applies to a header or json check, but neither is given")
    raise ConfigError("check", f"a check needs one of: {', '.join(KINDS)}")


def _option_of(table: Mapping[str, Any], kind: str) -> str | None:
    allowed = _OPTIONS[kind]
    given = [k for k in table if k in _ALL_OPTIONS]
    for key in given:
        if key not in allowed:
            known = ", ".join(allowed) if allowed else "none besides name"
            raise ConfigError(key, f"not an option of a {kind} check (options: {known})")
    if len(given) > 1:
        raise ConfigError(given[1], f"use one of {', '.join(allowed)}, not both {given[0]} and it")
    return given[0] if given else None


def _name_of(table: Mapping[str, Any]) -> str | None:
    if "name" not in table:
        return None
    name = table["name"]
    if not isinstance(name, str) or not name.strip():
        raise ConfigError("name", f"expected a non-empty string, got {name!r}")
    return name.strip()


def _status_check(table: Mapping[str, Any], _option: str | None) -> Check:
    raw = table[STATUS]
    codes = raw if isinstance(raw, list) else [raw]
    if not codes:
        raise ConfigError(STATUS, "expected a status code or a non-empty list of them")
    for code in codes:
        if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
            raise ConfigError(STATUS, f"expected a status code 100..599, got {code!r}")
    if isinstance(raw, list):
        name = f"status in [{', '.join(str(c) for c in codes)}]"
    else:
        name = f"status is {raw}"
    return Check(name=name, kind=STATUS, statuses=frozenset(codes))


_SAID = {"contains": "contains", "not_contains": "does not contain", "matches": "matches"}


def _header_check(table: Mapping[str, Any], option: str | None) -> Check:
    header = _nonempty_str(table, HEADER)
    op = option or "exists"
    expected = table.get(op, True)
    if op == "exists":
        _require_bool(op, expected)
        name = f"header {header} {'exists' if expected else 'absent'}"
    else:
        _text_value(op, expected)
        name = f"header {header} {_SAID.get(op, '==')} {expected}"
    return Check(name=name, kind=HEADER, header=header, op=op, expected=expected)


def _text_body_check(table: Mapping[str, Any], option: str | None) -> Check:
    option = _flagged(table, BODY, option)
    expected = table[option]
    _text_value(option, expected)
    return Check(name=f"body {_SAID[option]} {expected}", kind=BODY, op=option, expected=expected)


def _compare_duration_check(table: Mapping[str, Any], option: str | None) -> Check:
    option = _flagged(table, DURATION, option)
    raw = table[option]
    try:
        limit = parse_duration(raw)
    except (TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(option, str(exc)) from None
    if not 0 <= limit < math.inf:
        raise ConfigError(option, f"expected a duration, got {raw!r}")
    name = f"duration {_COMPARE[option][0]} {format_duration(limit)}"
    return Check(name=name, kind=DURATION, op=option, limit_s=limit)


def _flagged(table: Mapping[str, Any], kind: str, option: str | None) -> str:
    """The option of a check whose own key is just `true` (`{ body = true, matches = ... }`)."""
    options = " or ".join(_OPTIONS[kind])
    if table[kind] is not True:
        raise ConfigError(kind, f"expected true, with {options}")
    if option is None:
        raise ConfigError(kind, f"a {kind} check needs {options}")
    return option


def _text_value(op: str, value: Any) -> None:
    if not isinstance(value, str) or (op != "equals" and not value):
        raise ConfigError(op, f"expected a non-empty string, got {value!r}")


def _regex(value: Any, key: str = "matches") -> re.Pattern[str]:
    try:
        return re.compile(value)
    except re.error as exc:
        raise ConfigError(key, f"bad regex: {exc}") from None


def _body_check(table: Mapping[str, Any], _option: str | None) -> Check:
    text = _nonempty_str(table, BODY_CONTAINS)
    return Check(name=f"body contains {text}", kind=BODY_CONTAINS, needle=text.encode())


def _json_check(table: Mapping[str, Any], option: str | None) -> Check:
    where = _nonempty_str(table, JSON)
    path = _json_path(where)
    op = option or "exists"
    expected = table.get(op, True)
    if op == "exists":
        _require_bool(op, expected)
        name = f"json {where} {'exists' if expected else 'absent'}"
    elif op in _COMPARE:
        ok = isinstance(expected, int | float) and not isinstance(expected, bool)
        if not ok or not math.isfinite(expected):
            raise ConfigError(op, f"expected a number, got {expected!r}")
        name = f"json {where} {_COMPARE[op][0]} {expected}"
    elif op in _TEXT:
        _text_value(op, expected)
        name = f"json {where} {_SAID[op]} {expected}"
    else:
        if not _json_like(expected):
            raise ConfigError(op, "dates and times have no JSON form; write them as strings")
        name = f"json {where} == {json.dumps(expected, ensure_ascii=False)}"
    return Check(name=name, kind=JSON, path=path, op=op, expected=expected)


def _duration_check(table: Mapping[str, Any], _option: str | None) -> Check:
    raw = table[DURATION_UNDER]
    try:
        limit = parse_duration(raw)
    except (TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(DURATION_UNDER, str(exc)) from None
    if not limit > 0 or math.isinf(limit):
        raise ConfigError(DURATION_UNDER, f"expected a positive duration, got {raw!r}")
    return Check(name=f"duration < {format_duration(limit)}", kind=DURATION_UNDER, limit_s=limit)


_BUILDERS = {
    STATUS: _status_check,
    HEADER: _header_check,
    BODY_CONTAINS: _body_check,
    JSON: _json_check,
    DURATION_UNDER: _duration_check,
    BODY: _text_body_check,
    DURATION: _compare_duration_check,
}


def _nonempty_str(table: Mapping[str, Any], key: str) -> str:
    value = table[key]
    if not isinstance(value, str) or not value:
        raise ConfigError(key, f"expected a non-empty string, got {value!r}")
    return value


def _require_bool(key: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigError(key, f"expected true or false, got {value!r}")


def _json_path(text: str) -> JsonPath:
    """Split once at parse time; digit parts are kept as ints too, for list indexing."""
    parts = text.split(".")
    if any(not p for p in parts):
        raise ConfigError(JSON, f"empty part in path {text!r} (expected e.g. data.items.0.id)")
    return tuple((p, int(p) if p.isascii() and p.isdigit() else None) for p in parts)


def _json_like(value: Any) -> bool:
    if isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, list):
        return all(_json_like(v) for v in value)
    if isinstance(value, dict):
        return all(_json_like(v) for v in value.values())
    return False


def _load_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return _NOT_JSON


def _lookup(doc: Any, path: JsonPath) -> Any:
    node = doc
    for key, index in path:
        if isinstance(node, dict):
            node = node.get(key, _MISSING)
            if node is _MISSING:
                return _MISSING
        elif isinstance(node, list) and index is not None and index < len(node):
            node = node[index]
        else:
            return _MISSING
    return node


def _same(found: Any, expected: Any) -> bool:
    """JSON equality without Python's True == 1 and "1" != 1 surprises."""
    if isinstance(found, bool) or isinstance(expected, bool):
        return found is expected
    if isinstance(found, int | float) and isinstance(expected, int | float):
        return found == expected
    if isinstance(found, list) and isinstance(expected, list):
        return len(found) == len(expected) and all(map(_same, found, expected))
    if isinstance(found, dict) and isinstance(expected, dict):
        return found.keys() == expected.keys() and all(_same(found[k], expected[k]) for k in found)
    return type(found) is type(expected) and found == expected
