"""Validators for the parts of a request that an endpoint and a flow step share
(method, target, headers, body, checks), the statuses that count as success, and
the http(s) URL rules behind them.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from engine.errors import ConfigError
from engine.http.body import parse_size
from engine.http.redirects import MAX_REDIRECTS
from engine.http.request import header_problem
from engine.http.tls import TLS_KEYS, TlsFileError, TlsOptions, check
from engine.load.checks import Check, parse_check
from engine.profile import fields
from engine.profile.fields import Invalid, describe
from engine.profile.locate import KeyPath

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def body(
    table: Mapping[str, Any],
    path: KeyPath,
    headers: tuple[tuple[str, str], ...],
    profile_headers: Sequence[tuple[str, str]],
) -> tuple[bytes | None, tuple[tuple[str, str], ...]]:
    """`body` is sent as written; `json` is encoded and labelled unless a content-type is set."""
    if "body" in table and "json" in table:
        raise Invalid((*path, "json"), "give body or json, not both")
    if "body" in table:
        return fields.text(table["body"], (*path, "body")).encode(), headers
    if "json" not in table:
        return None, headers
    try:
        encoded = json.dumps(
            table["json"], separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_iso
        ).encode()
    except ValueError:
        raise Invalid((*path, "json"), "nan and inf have no JSON form") from None
    if not any(n.lower() == "content-type" for n, _ in (*headers, *profile_headers)):
        headers = (*headers, ("content-type", "application/json"))
    return encoded, headers


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
        raise ValueError(f"credentials in the URL are not supported: {url!r} (send a header)")
    try:
        parts.port  # noqa: B018 - urlsplit validates the port lazily
    except ValueError:
        raise ValueError(f"bad port in {url!r}") from None
    return parts


def http_base(url: str) -> str:
    parts = http_parts(url.strip())
    if parts.query or parts.fragment:
        raise ValueError(f"a base URL takes no query or fragment: {url!r}")
    return f"{parts.scheme.lower()}://{parts.netloc}{parts.path.rstrip('/')}"


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
