"""Bounded response bodies, shared by both clients: what is kept for checks, decoded how.

Whatever a server sends, a VU holds at most `max_body` bytes of a body (counted after
decoding, so a gzip bomb is bounded too) and at most `MAX_HEAD` bytes of a head; the
rest is counted and dropped. Decoding is zlib's (gzip, deflate), brotli's (br) and
zstandard's (zstd); a body in any other coding, or one that does not decode, is kept as
nothing and named (`BodySink.undecodable`), so its checks fail with a reason, not silently.
"""

from __future__ import annotations

import re
import zlib
from typing import Protocol

import brotli
import zstandard

from engine.errors import HEADER_TOO_LARGE
from engine.http.response import Response

DEFAULT_MAX_BODY = 1024 * 1024  # 1 MiB, the default of `max_body` / `--max-body`
MAX_HEAD = 64 * 1024  # status line and headers together; beyond: "header too large"

_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([KMG]i?B|[KMG]|B)?\s*", re.IGNORECASE)
_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kib": 1024,
    "kb": 1000,
    "m": 1024**2,
    "mib": 1024**2,
    "mb": 1000**2,
    "g": 1024**3,
    "gib": 1024**3,
    "gb": 1000**3,
}


def parse_size(value: object) -> int:
    """Bytes from 1048576, "1MiB", "512KiB", "2MB" or "10 kB"; ValueError for anything else."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size such as 1MiB or 512KiB, got {value!r}")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str) and (m := _SIZE.fullmatch(value)):
        size = int(float(m.group(1)) * _UNITS[(m.group(2) or "").lower()])
    else:
        raise ValueError(f"expected a size such as 1MiB or 512KiB, got {value!r}")
    if size < 0:
        raise ValueError(f"expected a size >= 0, got {value!r}")
    return size


class HeaderTooLarge(Exception):
    """The response head passed MAX_HEAD without ending: the connection is dropped."""

    kind = HEADER_TOO_LARGE


def over_note(kept: int) -> str:
    """What a check that needed the dropped part of a body says."""
    return f"body over max_body ({kept} bytes kept)"


class _Decoder(Protocol):
    def decode(self, data: bytes, room: int) -> bytes:
        """The next decoded bytes, at most `room` of them (more are not wanted: the body is
        over its limit then); ValueError when the data is not in the coding."""
        ...


class _Zlib:
    """gzip, x-gzip, deflate: zlib's, raw deflate too (as some servers send it)."""

    __slots__ = ("_dec", "_raw_deflate")

    def __init__(self, encoding: str) -> None:
        self._raw_deflate = encoding == "deflate"
        self._dec: zlib._Decompress | None = None  # made at the first byte (deflate sniffs)

    def decode(self, data: bytes, room: int) -> bytes:
        dec = self._dec
        if dec is None:
            if self._raw_deflate and not _zlib_wrapped(data):
                dec = zlib.decompressobj(-zlib.MAX_WBITS)
            else:
                dec = zlib.decompressobj(32 + zlib.MAX_WBITS)  # gzip or zlib, by the header
            self._dec = dec
        try:
            # A small compressed chunk cannot expand past `room` (the rest waits, unread).
            return dec.decompress(dec.unconsumed_tail + data, room)
        except zlib.error as exc:
            raise ValueError(str(exc)) from None


class _Brotli:
    """br (RFC 7932), brotli's own output limit bounding what one chunk expands into."""

    __slots__ = ("_dec",)

    def __init__(self) -> None:
        self._dec = brotli.Decompressor()

    def decode(self, data: bytes, room: int) -> bytes:
        try:
            return self._dec.process(data, output_buffer_limit=room)
        except brotli.error as exc:
            raise ValueError(str(exc)) from None


class _Full(Exception):
    """Raised by _Capped to stop zstandard's writer once the body has all it may keep."""


class _Capped:
    """zstandard's stream_writer's destination: takes up to `room` bytes, then stops it."""

    __slots__ = ("out", "room")

    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.room = 0

    def write(self, data: bytes) -> int:
        self.out.append(bytes(data))
        self.room -= len(data)
        if self.room < 0:
            raise _Full
        return len(data)


class _Zstd:
    """zstd (RFC 8878). Its decompressobj has no output limit, so the writer API with a
    destination that stops it: at most one write (128 KiB) past the limit is made."""

    __slots__ = ("_sink", "_writer")

    def __init__(self) -> None:
        self._sink = _Capped()
        self._writer = zstandard.ZstdDecompressor().stream_writer(self._sink, write_size=65536)

    def decode(self, data: bytes, room: int) -> bytes:
        sink = self._sink
        sink.room = room
        try:
            self._writer.write(data)
        except _Full:
            pass
        except zstandard.ZstdError as exc:
            raise ValueError(str(exc)) from None
        out = b"".join(sink.out)
        sink.out = []
        return out


def _decoder(encoding: str | None) -> _Decoder | None:
    """The decoder of a Content-Encoding; None for identity; KeyError for one Surge cannot
    decode (another name, or several codings stacked)."""
    if encoding is None or encoding == "identity":
        return None
    if encoding in ("gzip", "x-gzip", "deflate"):
        return _Zlib(encoding)
    if encoding == "br":
        return _Brotli()
    if encoding == "zstd":
        return _Zstd()
    raise KeyError(encoding)


class BodySink:
    """Collects one body: decoded when its Content-Encoding says so, kept up to `limit` bytes.

    `feed` takes the bytes as they came off the wire; past the limit nothing more is
    decoded or kept (each decoder is capped, so one small compressed chunk cannot expand
    past the limit either). `over` says the body was cut; `undecodable` names a coding
    Surge does not decode, or one the body did not decode in (then nothing is kept).
    """

    __slots__ = ("_coding", "_decoder", "_left", "_parts", "kept", "over", "undecodable")

    def __init__(self, limit: int, encoding: str | None = None) -> None:
        self._left = limit
        self._parts: list[bytes] = []
        self.kept = 0
        self.over = False
        self.undecodable: str | None = None
        coding = self._coding = (encoding or "").strip().lower() or None
        try:
            self._decoder = _decoder(coding)
        except KeyError:
            self._decoder = None
            self.undecodable = coding

    def feed(self, data: bytes) -> None:
        if self.over or self.undecodable is not None or not data:
            return
        dec = self._decoder
        if dec is not None:
            try:
                # One byte past the limit at most: enough to know the body is over it.
                data = dec.decode(data, self._left + 1)
            except ValueError:
                self.undecodable = f"{self._coding} (corrupt)"
                self._parts, self.kept = [], 0
                return
        left = self._left
        if len(data) > left:
            data = data[:left]
            self.over = True
            self._decoder = None  # drops the input it still holds with it
        if data:
            self._parts.append(data)
            self._left = left - len(data)
            self.kept += len(data)

    def body(self) -> bytes:
        parts = self._parts
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def response(self, status: int, headers: list[tuple[bytes, bytes]]) -> Response:
        """The response with this body, as every client returns it."""
        cut_at = self.kept if self.over else None
        return Response(status, headers, self.body(), cut_at, self.undecodable)


def _zlib_wrapped(data: bytes) -> bool:
    """A zlib header (RFC 1950): CM 8 and a check value divisible by 31."""
    return len(data) >= 2 and data[0] & 0x0F == 8 and ((data[0] << 8) | data[1]) % 31 == 0
