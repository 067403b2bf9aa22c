"""Flow flows: steps that replay what a user does, with values carried between them.

A step's path, headers and body may hold `${name}` placeholders: values captured
from earlier responses, `${vu}` (1-based, unique across workers), `${iter}` (the
VU's iteration, 0-based, as k6's __ITER), `${uuid}` (a fresh random id) and
`${data.COLUMN}` (the VU's row of the scenario's data file). Templates are
compiled once; a step without placeholders is encoded once, like an endpoint.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.http.request import Prepared, prepare
from engine.http.response import Response
from engine.load.checks import Check

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)?)\}")
BUILTINS = frozenset({"vu", "iter", "uuid"})


@dataclass(frozen=True)
class Template:
    """Text split at its placeholders: ("GET /jobs/", "job", "") renders with vars."""

    parts: tuple[str, ...]  # literal, name, literal, name, ..., literal
    json_escape: bool = False

    @classmethod
    def compile(cls, text: str, *, json_escape: bool = False) -> Template:
        parts: list[str] = []
        pos = 0
        for m in _VAR.finditer(text):
            parts.extend((text[pos : m.start()], m.group(1)))
            pos = m.end()
        parts.append(text[pos:])
        return cls(tuple(parts), json_escape)

    @property
    def names(self) -> tuple[str, ...]:
        return self.parts[1::2]

    @property
    def static(self) -> bool:
        return len(self.parts) == 1

    def render(self, values: Mapping[str, str]) -> str:
        if self.static:
            return self.parts[0]
        out = []
        for i, part in enumerate(self.parts):
            if i % 2 == 0:
                out.append(part)
                continue
            value = values[part] if part != "uuid" else uuid.uuid4().hex
            out.append(json.dumps(value)[1:-1] if self.json_escape else value)
        return "".join(out)


@dataclass(frozen=True)
class Capture:
    """A value taken from a response into a variable; None when it is not there."""

    name: str
    kind: str  # json | header | regex
    expr: str

    def extract(self, response: Response) -> str | None:
        if self.kind == "header":
            return response.header(self.expr)
        if self.kind == "regex":
            m = re.search(self.expr, response.text)
            if m is None:
                return None
            return m.group(1) if m.groups() else m.group(0)
        try:
            value: Any = response.json()
        except ValueError:
            return None
        for part in self.expr.split("."):
            if isinstance(value, Mapping) and part in value:
                value = value[part]
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return None
        if value is None or isinstance(value, Mapping | list):
            return None if value is None else json.dumps(value)
        return str(value).lower() if isinstance(value, bool) else str(value)


@dataclass(frozen=True)
class Poll:
    """Repeat a step until `until` holds on its response, at most `tries` times."""

    until: Check
    tries: int = 30
    every: float = 0.5


CONTINUE = "continue"
END_ITERATION = "end_iteration"
ON_FAILURE = (CONTINUE, END_ITERATION)


@dataclass(frozen=True)
class Step:
    """One request of a flow.

    `on_failure`: after an unexpected status, a transport error or a poll out of
    tries, "continue" runs the next step (k6's way: the failure is counted, the
    checks judge the response) or "end_iteration" ends the pass (Surge's old way).
    `expected_statuses` replaces the profile's for this step (k6's responseCallback).
    `max_redirects` replaces the plan's for this step (k6's `redirects` parameter).
    """

    name: str
    method: str
    path: Template
    headers: tuple[tuple[str, Template], ...] = ()
    body: Template | None = None
    checks: tuple[Check, ...] = ()
    captures: tuple[Capture, ...] = ()
    think: tuple[float, float] = (0.0, 0.0)  # seconds, uniform in [lo, hi] after the step
    poll: Poll | None = None
    on_failure: str = CONTINUE
    expected_statuses: tuple[tuple[int, int], ...] | None = None  # None: the profile's
    max_redirects: int | None = None  # k6's per-request `redirects`; None: the plan's

    @property
    def static(self) -> bool:
        return (
            self.path.static
            and all(t.static for _, t in self.headers)
            and (self.body is None or self.body.static)
        )

    def names(self) -> set[str]:
        """Every variable the step's request uses."""
        out = set(self.path.names)
        for _, t in self.headers:
            out.update(t.names)
        if self.body is not None:
            out.update(self.body.names)
        return out

    def prepare(
        self, base_url: str, common: Sequence[tuple[str, str]], values: Mapping[str, str]
    ) -> Prepared:
        path = self.path.render(values)
        url = path if path.startswith(("http://", "https://")) else base_url + path
        headers = (*common, *((k, t.render(values)) for k, t in self.headers))
        body = self.body.render(values).encode() if self.body is not None else None
        return prepare(self.name, self.method, url, headers, body)


@dataclass(frozen=True)
class Flow:
    name: str
    steps: tuple[Step, ...]
    data: tuple[Mapping[str, str], ...] = ()  # rows handed out per VU

    def row_for(self, vu_id: int) -> Mapping[str, str]:
        return self.data[(vu_id - 1) % len(self.data)] if self.data else {}


def load_data(path: Path) -> tuple[dict[str, str], ...]:
    """CSV with a header row, or a JSON array of objects; values become strings."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".json":
        rows = json.loads(text)
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ValueError("expected a JSON array of objects")
        return tuple({str(k): _cell(v) for k, v in r.items()} for r in rows)
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise ValueError("expected a CSV header row")
    return tuple({k: v or "" for k, v in row.items() if k is not None} for row in reader)


def _cell(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)
