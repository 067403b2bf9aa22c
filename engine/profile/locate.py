"""Where a key path is written in a profile's text, and tomllib's errors as located lines.

tomllib reports no positions for valid TOML, so `find_line` re-reads the text with
just enough of a TOML lexer to say where a key path is written.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from engine.profile.model import ProfileError

KeyPath = tuple[str | int, ...]


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


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


def decode_toml(text: str, source: str) -> dict[str, Any]:
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
        def element(index: int) -> None:
            self._mark((*path, index), self.line)
            self._value((*path, index), depth)

        self._items("]", element)

    def _inline_table(self, path: KeyPath, depth: int) -> None:
        self._items("}", lambda _: self._key_value(path, depth))

    def _items(self, closer: str, item: Callable[[int], None]) -> None:
        """An array's or inline table's items up to `closer`, comma-separated, each read by
        `item(index)`; a character no item takes is stepped over, so the scan always ends."""
        self.pos += 1
        index = 0
        while self.pos < len(self.text):
            self._skip_blank()
            ch = self._peek()
            if ch in (closer, ""):
                self.pos += 1 if ch else 0
                return
            if ch == ",":
                self.pos += 1
                continue
            start = self.pos
            item(index)
            index += 1
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
