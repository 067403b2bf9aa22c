"""Flow flows: steps that replay what a user does, with values carried between them.

A step's path, headers and body may hold `${name}` placeholders: values captured
from earlier responses, `${vu}` (1-based, unique across workers), `${iter}` (the
VU's iteration, 0-based, as k6's __ITER), `${uuid}` (a fresh random id) and
`${data.COLUMN}` (a row of the flow's data file, picked by `data_order`), and the
functions `${random(LO,HI)}` (an int, both ends included) and `${randstr(N)}` (N of
a-z0-9), as k6-utils' randomIntBetween and randomString. Templates are compiled
once; a step without placeholders is encoded once, like an endpoint.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import random
import re
import string
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any
from urllib.parse import quote_plus

from engine.http.request import Prepared, prepare
from engine.http.response import Response
from engine.load.checks import Check

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)?|[a-z]+\([0-9, +-]*\))\}")
BUILTINS = frozenset({"vu", "iter", "uuid"})
_ALNUM = string.ascii_lowercase + string.digits


def _function(text: str) -> Callable[[], str] | None:
    """The call a placeholder makes (`uuid`, `random(1,100)`, `randstr(8)`), or None for a
    variable; ValueError for a function Surge does not have or bad arguments."""
    if text == "uuid":
        return lambda: uuid.uuid4().hex
    if "(" not in text:
        return None
    name, _, rest = text.partition("(")
    try:
        args = [int(a) for a in rest[:-1].split(",")] if rest[:-1].strip() else []
    except ValueError:
        raise ValueError(f"${{{text}}}: arguments are whole numbers") from None
    if name == "random" and len(args) == 2 and args[0] <= args[1]:
        lo, hi = args
        return lambda: str(random.randint(lo, hi))
    if name == "randstr" and len(args) == 1 and 0 < args[0] <= 1_000_000:
        n = args[0]
        return lambda: "".join(random.choices(_ALNUM, k=n))
    raise ValueError(f"${{{text}}}: expected ${{random(LO,HI)}} with LO <= HI or ${{randstr(N)}}")


@dataclass(frozen=True)
class Template:
    """Text split at its placeholders: ("GET /jobs/", "job", "") renders with vars.

    A value goes in as it is, or escaped for where it lands: `json_escape` (inside a JSON
    string), `form_escape` (a url-encoded form value, `+` for space), `binary` (the literals
    are bytes as latin-1 text, a multipart body; a value goes in as its UTF-8 bytes)."""

    parts: tuple[str, ...]  # literal, name, literal, name, ..., literal
    json_escape: bool = False
    form_escape: bool = False
    binary: bool = False
    calls: tuple[Callable[[], str] | None, ...] = field(default=(), compare=False, repr=False)

    @classmethod
    def compile(
        cls, text: str, *, json_escape: bool = False, form_escape: bool = False
    ) -> Template:
        """ValueError for a placeholder calling a function Surge does not have."""
        parts: list[str] = []
        pos = 0
        for m in _VAR.finditer(text):
            parts.extend((text[pos : m.start()], m.group(1)))
            pos = m.end()
        parts.append(text[pos:])
        return cls(tuple(parts), json_escape, form_escape)

    def __post_init__(self) -> None:
        if len(self.calls) != len(self.parts) // 2:  # the functions, bound once
            object.__setattr__(self, "calls", tuple(_function(n) for n in self.parts[1::2]))

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled without its bound functions (a plan crosses to worker processes): the
        other side binds them again."""
        return (Template, (self.parts, self.json_escape, self.form_escape, self.binary))

    @classmethod
    def join(cls, pieces: Sequence[Template], **how: bool) -> Template:
        """The pieces one after another, as one template (a form's or a multipart's fields)."""
        parts: list[str] = [""]
        for piece in pieces:
            parts[-1] += piece.parts[0]
            parts.extend(piece.parts[1:])
        return cls(tuple(parts), **how)

    @property
    def names(self) -> tuple[str, ...]:
        """The variables it reads (functions are not variables)."""
        return tuple(n for n, c in zip(self.parts[1::2], self.calls, strict=True) if c is None)

    @property
    def source(self) -> str:
        """The text as written, placeholders and all (what an endpoint sends)."""
        return "".join(p if i % 2 == 0 else f"${{{p}}}" for i, p in enumerate(self.parts))

    @property
    def static(self) -> bool:
        return len(self.parts) == 1

    def render(self, values: Mapping[str, str]) -> str:
        if self.static:
            return self.parts[0]
        out = []
        calls = self.calls
        for i, part in enumerate(self.parts):
            if i % 2 == 0:
                out.append(part)
                continue
            call = calls[i // 2]
            value = values[part] if call is None else call()
            if self.json_escape:
                value = json.dumps(value)[1:-1]
            elif self.form_escape:
                value = quote_plus(value)
            elif self.binary:
                value = value.encode().decode("latin-1")
            out.append(value)
        return "".join(out)

    def encode(self, values: Mapping[str, str]) -> bytes:
        """Rendered, as the bytes that go on the wire."""
        return self.render(values).encode("latin-1" if self.binary else "utf-8")


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
    `tags` are the step's own (k6's request `tags`), `group` the k6 group it is in (its
    steps run one after another; the worker times each pass as `group_duration`),
    `timeout` the request's deadline instead of the plan's, `auth` Basic credentials.
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
    tags: tuple[tuple[str, str], ...] = ()
    group: str = ""  # "" at the root; else the name, its path "::" + group
    timeout: float | None = None  # None: the plan's
    auth: tuple[Template, Template] | None = None  # Basic: user, password

    @property
    def static(self) -> bool:
        return (
            self.path.static
            and all(t.static for _, t in self.headers)
            and (self.body is None or self.body.static)
            and (self.auth is None or (self.auth[0].static and self.auth[1].static))
        )

    def names(self) -> set[str]:
        """Every variable the step's request uses."""
        out = set(self.path.names)
        for _, t in self.headers:
            out.update(t.names)
        if self.body is not None:
            out.update(self.body.names)
        for t in self.auth or ():
            out.update(t.names)
        return out

    def prepare(
        self, base_url: str, common: Sequence[tuple[str, str]], values: Mapping[str, str]
    ) -> Prepared:
        path = self.path.render(values)
        url = path if path.startswith(("http://", "https://")) else base_url + path
        headers = (*common, *((k, t.render(values)) for k, t in self.headers))
        if self.auth is not None:
            user, password = self.auth
            headers = (*headers, basic_auth(user.render(values), password.render(values)))
        body = self.body.encode(values) if self.body is not None else None
        return prepare(self.name, self.method, url, headers, body, timeout=self.timeout)


def basic_auth(user: str, password: str) -> tuple[str, str]:
    """The Authorization header of HTTP Basic auth (RFC 7617, UTF-8), as Go's SetBasicAuth."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return "Authorization", f"Basic {token}"


# Setup's and teardown's steps are in k6's groups ::setup and ::teardown; a scenario's
# at the root.
GROUP_ROOTS = {"(setup)": "::setup", "(teardown)": "::teardown"}


class GroupTimer:
    """Times each pass through a group of a flow's steps (its steps follow one another):
    `enter` each step's group ("" for none), `close` at the end of the pass; `record`
    gets the group's path (`::checkout`) and the pass's duration in microseconds."""

    __slots__ = ("_name", "_record", "_root", "_start")

    def __init__(self, record: Callable[[str, int], None], root: str = "") -> None:
        self._record = record
        self._root = root
        self._name = ""
        self._start = 0.0

    def enter(self, group: str) -> None:
        if group != self._name:
            self.close()
            self._name = group
            self._start = perf_counter()

    def close(self) -> None:
        if self._name:
            us = int((perf_counter() - self._start) * 1e6)
            self._record(f"{self._root}::{self._name}", us)
            self._name = ""


DATA_ORDERS = ("vu", "iteration", "random")
DATA_ENDS = ("wrap", "stop")


@dataclass(frozen=True)
class Flow:
    """`data_order`: a VU keeps row vu-1 ("vu"), each iteration of the scenario takes the
    next row ("iteration", k6's SharedArray read by iterationInTest) or any ("random");
    `data_end = "stop"` ends the run when the iteration order runs out of rows."""

    name: str
    steps: tuple[Step, ...]
    data: tuple[Mapping[str, str], ...] = ()  # rows handed out per VU
    data_order: str = "vu"
    data_end: str = "wrap"

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
