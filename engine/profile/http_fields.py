"""Validators for the parts of a request that an endpoint and a flow step share
(method, target, headers, body, checks), the statuses that count as success, and
the http(s) URL rules behind them.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, unquote, urlsplit

from engine.errors import ConfigError
from engine.http.body import parse_size
from engine.http.redirects import MAX_REDIRECTS
from engine.http.request import header_problem
from engine.http.tls import TLS_KEYS, TlsFileError, TlsOptions, check
from engine.load.checks import Check, parse_check
from engine.load.flow import Template, basic_auth
from engine.profile import fields
from engine.profile.fields import Invalid, describe
from engine.profile.locate import KeyPath

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


BODY_KEYS = ("body", "json", "form", "multipart")
# The keys of a request, a flow step's and an endpoint's alike (k6's request params too).
REQUEST_KEYS = (
    "name",
    "method",
    "path",
    "headers",
    *BODY_KEYS,
    "checks",
    "tags",
    "timeout",
    "auth",
)
# Tags Surge and k6 set themselves: a user's tag of that name would be ambiguous.
RESERVED_TAGS = (
    "name",
    "step",
    "scenario",
    "group",
    "upstream",
    "status",
    "method",
    "url",
    "expected_response",
    "check",
    "proto",
    "error",
)
Headers = tuple[tuple[str, str], ...]


def body(
    table: Mapping[str, Any],
    path: KeyPath,
    headers: Headers,
    profile_headers: Sequence[tuple[str, str]],
    folder: Path | None = None,
) -> tuple[bytes | None, Headers]:
    """The body as written (an endpoint's: placeholders are sent as they are)."""
    template, headers = body_template(table, path, headers, profile_headers, folder)
    if template is None:
        return None, headers
    return template.source.encode("latin-1" if template.binary else "utf-8"), headers


def body_key(table: Mapping[str, Any]) -> str | None:
    """Which of body, json, form and multipart the request has."""
    return next((k for k in BODY_KEYS if k in table), None)


def body_template(
    table: Mapping[str, Any],
    path: KeyPath,
    headers: Headers,
    profile_headers: Sequence[tuple[str, str]],
    folder: Path | None = None,
) -> tuple[Template | None, Headers]:
    """`body` is sent as written; `json` is encoded, `form` url-encoded as Go's url.Values
    (keys sorted, `+` for space) and `multipart` framed, each labelled unless a
    content-type is set (multipart always: the boundary is Surge's). Files of a multipart
    are read now, relative to `folder` (the profile's) and inside it."""
    given = [k for k in BODY_KEYS if k in table]
    if len(given) > 1:
        raise Invalid((*path, given[1]), f"give one of {', '.join(BODY_KEYS)}, not {given[0]} too")
    if not given:
        return None, headers
    key = given[0]
    where = (*path, key)
    typed = any(n.lower() == "content-type" for n, _ in (*headers, *profile_headers))
    if key == "body":
        return _compile(fields.text(table["body"], where), where), headers
    if key == "json":
        try:
            encoded = json.dumps(
                table["json"],
                separators=(",", ":"),
                ensure_ascii=False,
                allow_nan=False,
                default=_iso,
            )
        except ValueError:
            raise Invalid(where, "nan and inf have no JSON form") from None
        template = _compile(encoded, where, json_escape=True)
        kind = "application/json"
    elif key == "form":
        template = _form(fields.table(table["form"], where, hint='name = "value"'), where)
        kind = "application/x-www-form-urlencoded"
    else:
        if typed:
            raise Invalid(where, "multipart sets Content-Type itself (with its boundary)")
        template, kind = _multipart(table["multipart"], where, folder or Path.cwd())
    if not typed:
        headers = (*headers, ("content-type", kind))
    return template, headers


def _compile(text: str, path: KeyPath, **how: bool) -> Template:
    try:
        return Template.compile(text, **how)
    except ValueError as exc:
        raise Invalid(path, str(exc)) from None


def _form(table: Mapping[str, Any], path: KeyPath) -> Template:
    """Go's url.Values.Encode: keys sorted, an array repeats its key, `+` for a space;
    a placeholder's value is escaped the same way when it is filled in."""
    pieces: list[Template] = []
    for name in sorted(table):
        raw = table[name]
        for i, value in enumerate(raw if isinstance(raw, list) else [raw]):
            where = (*path, name, i) if isinstance(raw, list) else (*path, name)
            text = _form_text(value, where)
            if pieces:
                pieces.append(Template(("&",)))
            template = _compile(text, where)
            escaped = [quote_plus(p) if j % 2 == 0 else p for j, p in enumerate(template.parts)]
            pieces.extend((Template((quote_plus(name) + "=",)), Template(tuple(escaped))))
    return Template.join(pieces, form_escape=True)


def _form_text(value: Any, path: KeyPath) -> str:
    """A form value as Go's %v writes it: strings as they are, numbers, true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | str):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:g}" if value == int(value) and abs(value) < 1e21 else repr(value)
    raise Invalid(path, f"expected a string, a number or true/false, got {describe(value)}")


def _multipart(value: Any, path: KeyPath, folder: Path) -> tuple[Template, str]:
    """A multipart/form-data body: a text part per string, a file part per
    `{ path = "...", type = "...", filename = "..." }` (type by default
    application/octet-stream, filename the file's name), in the order written."""
    table = fields.table(value, path, hint='name = "value" or name = { path = "photo.png" }')
    if not table:
        raise Invalid(path, "expected at least one part")
    boundary = "surge" + uuid.uuid4().hex
    pieces: list[Template] = []
    for name, part in table.items():
        where = (*path, name)
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{_quoted(name)}"'
        if isinstance(part, Mapping):
            fields.known_keys(part, where, ("path", "type", "filename"))
            file = profile_file(
                fields.name(part.get("path", ""), (*where, "path")), folder, (*where, "path")
            )
            try:
                content = file.read_bytes()
            except OSError as exc:
                raise Invalid(
                    (*where, "path"), f"cannot read {file}: {exc.strerror or exc}"
                ) from None
            filename = fields.name(part.get("filename", file.name), (*where, "filename"))
            kind = fields.text(part.get("type", "application/octet-stream"), (*where, "type"))
            if has_space_or_control(kind.replace(" ", "")) or not kind.isascii():
                raise Invalid((*where, "type"), f"bad content type {kind!r}")
            head += f'; filename="{_quoted(filename)}"\r\nContent-Type: {kind}'
            pieces.append(Template((_latin1(head) + "\r\n\r\n" + content.decode("latin-1"),)))
        else:
            template = _compile(_form_text(part, where), where)
            parts = [_latin1(p) if j % 2 == 0 else p for j, p in enumerate(template.parts)]
            pieces.extend((Template((_latin1(head) + "\r\n\r\n",)), Template(tuple(parts))))
        pieces.append(Template(("\r\n",)))
    pieces.append(Template((f"--{boundary}--\r\n",)))
    return Template.join(pieces, binary=True), f"multipart/form-data; boundary={boundary}"


def _quoted(text: str) -> str:
    """A name inside a Content-Disposition's quotes, escaped as Go's mime/multipart does."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _latin1(text: str) -> str:
    """Text as its UTF-8 bytes, spelled as latin-1 (a binary template's literals)."""
    return text.encode().decode("latin-1")


def profile_file(text: str, folder: Path, path: KeyPath) -> Path:
    """A file a profile names: a relative path stays inside the profile's folder, symlinks
    resolved, so a shared profile cannot make Surge read (and send or quote) any file."""
    given = Path(text)
    if given.is_absolute():
        return given
    base = folder.resolve()
    file = (folder / given).resolve()
    if not file.is_relative_to(base):
        raise Invalid(path, f"{text!r} leaves the profile's folder ({base})")
    return file


def tags(value: Any, path: KeyPath) -> Headers:
    """`tags = { page = "list" }`: k6's request tags, strings; the names Surge and k6 set
    themselves are refused (a threshold on one would not say which it means)."""
    table = fields.table(value, path, hint='name = "value"')
    out = []
    for name, raw in table.items():
        if not name.strip():
            raise Invalid((*path, name), "a tag needs a name")
        if name in RESERVED_TAGS:
            raise Invalid(
                (*path, name),
                f"{name!r} is a tag Surge sets itself (reserved: {', '.join(RESERVED_TAGS)})",
            )
        out.append((name, fields.text(raw, (*path, name))))
    return tuple(out)


def auth(value: Any, path: KeyPath) -> tuple[str, str]:
    """`auth = { basic = ["user", "password"] }`: HTTP Basic credentials."""
    table = fields.table(value, path, hint='{ basic = ["user", "password"] }')
    fields.known_keys(table, path, ("basic",))
    pair = table.get("basic")
    if not isinstance(pair, list) or len(pair) != 2:
        raise Invalid((*path, "basic"), f'expected ["user", "password"], got {describe(pair)}')
    user = fields.text(pair[0], (*path, "basic", 0))
    if ":" in user:
        raise Invalid((*path, "basic", 0), "a Basic auth user name has no ':'")
    return user, fields.text(pair[1], (*path, "basic", 1))


def userinfo(url: str) -> tuple[str, tuple[str, str] | None]:
    """`url` without its `user:password@` (percent-decoded), and the credentials; a URL
    without them as it is."""
    m = _AUTHORITY.match(url)
    if m is None or "@" not in m.group(2):
        return url, None
    info, _, host = m.group(2).rpartition("@")
    user, _, password = info.partition(":")
    return f"{m.group(1)}{host}{m.group(3)}", (unquote(user), unquote(password))


_AUTHORITY = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)([^/?#]*)(.*)", re.S)


def credentials(
    table: Mapping[str, Any], path: KeyPath, target: str, headers: Headers
) -> tuple[str, tuple[str, str] | None]:
    """A request's target without `user:password@`, and its Basic credentials from there
    or from `auth`; one way only, and not beside an Authorization header."""
    bare, found = userinfo(target)
    if "auth" in table:
        if found is not None:
            raise Invalid((*path, "auth"), "give auth or user:password@ in the path, not both")
        found = auth(table["auth"], (*path, "auth"))
    if found is not None and any(n.lower() == "authorization" for n, _ in headers):
        raise Invalid((*path, "headers"), "give an Authorization header or auth, not both")
    return bare, found


def base_credentials(base_url: str, headers: Headers) -> tuple[str, Headers]:
    """base_url's `user:password@` as an Authorization header on every request (a header
    the profile sets wins), and the base URL without it: it is shown, they are not."""
    bare, credentials = userinfo(base_url)
    if credentials is None:
        return base_url, headers
    if any(n.lower() == "authorization" for n, _ in headers):
        return bare, headers
    return bare, (*headers, basic_auth(*credentials))


def _iso(value: Any) -> str:
    """TOML dates and times have no JSON type; ISO 8601 strings are what APIs expect."""
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {value!r}")


def checks(value: Any, path: KeyPath) -> tuple[Check, ...]:
    if not isinstance(value, list):
        raise Invalid(path, f"expected an array of check tables, got {describe(value)}")
    out = []
    for i, item in enumerate(value):
        try:
            out.append(parse_check(item))
        except ConfigError as exc:
            named = isinstance(item, Mapping) and exc.key in item
            raise Invalid((*path, i, exc.key) if named else (*path, i), exc.message) from None
    return tuple(out)


def method(value: Any, path: KeyPath) -> str:
    verb = fields.text(value, path).strip().upper()
    if verb not in METHODS:
        raise Invalid(path, bad_method(value))
    return verb


def bad_method(value: str) -> str:
    return f"unknown HTTP method {value!r} (known: {', '.join(METHODS)})"


def target(value: Any, path: KeyPath) -> str:
    text = fields.text(value, path)
    if has_space_or_control(text):
        raise Invalid(path, f"spaces and control characters are not allowed: {text!r}")
    if text.startswith("/"):
        return text
    try:
        http_parts(text)
    except ValueError:
        message = f"expected a path starting with / or a full URL, got {text!r}"
        raise Invalid(path, message) from None
    return text


def headers(value: Any, path: KeyPath) -> tuple[tuple[str, str], ...]:
    table = fields.table(value, path, hint="header name = value")
    out = []
    for name, raw in table.items():
        try:
            check_header(name, fields.text(raw, (*path, name)))
        except ValueError as exc:
            raise Invalid((*path, name), str(exc)) from None
        out.append((name, raw))
    return tuple(out)


def check_header(name: str, value: str) -> None:
    """A header that can go on the wire as written: a token name, no CR/LF/NUL, ASCII."""
    if not _TOKEN.fullmatch(name):
        raise ValueError(f"bad header name {name!r}")
    problem = header_problem(name, value)
    if problem is not None:
        raise ValueError(problem)


def max_body(value: Any, path: KeyPath) -> int:
    """`max_body`: bytes ("1MiB", "512KiB", 65536) of a body kept for checks."""
    try:
        return parse_size(value)
    except ValueError as exc:
        raise Invalid(path, str(exc)) from None


def max_redirects(value: Any, path: KeyPath) -> int:
    """`max_redirects`: redirects followed per request (k6's maxRedirects; 0: none)."""
    return fields.integer(value, path, 0, MAX_REDIRECTS)


def tls_files(doc: Mapping[str, Any], folder: Path, insecure: bool) -> dict[str, str]:
    """`cacert`, `cert`, `key`: paths relative to the profile's folder, each loaded now, so
    a wrong file is `file:line: key`, exit 2, before the run."""
    found: dict[str, str] = {}
    for key in TLS_KEYS:
        if key in doc:
            text = fields.text(doc[key], (key,)).strip()
            if not text:
                raise Invalid((key,), "must not be empty (leave the key out)")
            found[key] = str(folder / Path(text).expanduser())
    try:
        check(TlsOptions(insecure, **found))
    except TlsFileError as exc:
        raise Invalid((exc.option,), exc.message) from None
    return found


def has_space_or_control(text: str) -> bool:
    return any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in text)


def http_parts(url: str) -> Any:
    """urlsplit, but only for http(s) URLs with a host, a valid port and no credentials."""
    if has_space_or_control(url):
        raise ValueError(f"spaces and control characters are not allowed in {url!r}")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"expected an http:// or https:// URL, got {url!r}")
    if not parts.hostname:
        raise ValueError(f"no host in {url!r}")
    if "@" in parts.netloc:
        raise ValueError("credentials in this URL are not supported (use auth = { basic = ... })")
    try:
        parts.port  # noqa: B018 - urlsplit validates the port lazily
    except ValueError:
        raise ValueError(f"bad port in {url!r}") from None
    return parts


def http_base(url: str) -> str:
    """The base URL, normalised; its `user:password@` kept (base_credentials takes it)."""
    bare, credentials = userinfo(url.strip())
    parts = http_parts(bare)
    if parts.query or parts.fragment:
        raise ValueError(f"a base URL takes no query or fragment: {bare!r}")
    info = url.strip().partition("://")[2].partition("/")[0].rpartition("@")[0]
    netloc = f"{info}@{parts.netloc}" if credentials is not None else parts.netloc
    return f"{parts.scheme.lower()}://{netloc}{parts.path.rstrip('/')}"


def split_url(url: str) -> tuple[str, str]:
    parts = http_parts(url.strip())
    request_target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return f"{parts.scheme.lower()}://{parts.netloc}", request_target


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


def statuses(value: Any, path: KeyPath) -> tuple[tuple[int, int], ...]:
    try:
        return parse_statuses(value)
    except ValueError as exc:
        raise Invalid(path, str(exc)) from None


def _status_ranges(part: Any) -> list[tuple[int, int]]:
    if isinstance(part, int) and not isinstance(part, bool):
        return [_status_range(part, part, part)]
    if not isinstance(part, str):
        raise ValueError(f'expected a status, a range "200-399" or a list, got {describe(part)}')
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
