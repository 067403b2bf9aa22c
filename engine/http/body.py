"""Bounded response bodies, shared by both clients: what is kept for checks, decoded how.

Whatever a server sends, a VU holds at most `max_body` bytes of a body (counted after
decoding, so a gzip bomb is bounded too) and at most `MAX_HEAD` bytes of a head; the
rest is counted and dropped. Decoding is zlib's (gzip, deflate); `br` is left as sent
(no brotli package is installed), so a check on it fails rather than guesses.
"""

from __future__ import annotations

import re
import zlib

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

    kind = "header too large"


def over_note(kept: int) -> str:
    """What a check that needed the dropped part of a body says."""
    return f"body over max_body ({kept} bytes kept)"


class BodySink:
    """Collects one body: decoded with zlib when asked, kept up to `limit` bytes.

    `feed` takes the bytes as they came off the wire; past the limit nothing more is
    decoded or kept (decompression is capped by `max_length`, so one small compressed
    chunk cannot expand past the limit either). `over` says the body was cut.
    """

    __slots__ = ("_decoder", "_encoding", "_left", "_parts", "kept", "over")

    def __init__(self, limit: int, encoding: str | None = None) -> None:
        self._left = limit
        self._parts: list[bytes] = []
        self._encoding = (encoding or "").strip().lower() or None
        self._decoder: zlib._Decompress | None = None  # made at the first byte (deflate sniffs)
        self.kept = 0
        self.over = False

    def feed(self, data: bytes) -> None:
        if self.over or not data:
            return
        enc = self._encoding
        if enc in ("gzip", "x-gzip", "deflate"):
            data = self._decode(data)
            if self.over:
                return
        left = self._left
        if len(data) > left:
            data = data[:left]
            self.over = True
        if data:
            self._parts.append(data)
            self._left = left - len(data)
            self.kept += len(data)

    def _decode(self, data: bytes) -> bytes:
        dec = self._decoder
        if dec is None:
            if self._encoding == "deflate" and not _zlib_wrapped(data):
                dec = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as some servers send
            else:
                dec = zlib.decompressobj(32 + zlib.MAX_WBITS)  # gzip or zlib, by the header
            self._decoder = dec
        try:
            # At most one byte past the limit: enough to know the body is over it, and a
            # small compressed chunk cannot expand into more (the rest waits, unread).
            out = dec.decompress(dec.unconsumed_tail + data, self._left + 1)
        except zlib.error:
            self._encoding = None  # not what it claimed: keep nothing more, checks fail
            self.over = True
            return b""
        if len(out) > self._left:
            self._decoder = None  # drops the unconsumed input with it
        return out

    def body(self) -> bytes:
        parts = self._parts
        return parts[0] if len(parts) == 1 else b"".join(parts)


def _zlib_wrapped(data: bytes) -> bool:
    """A zlib header (RFC 1950): CM 8 and a check value divisible by 31."""
    return len(data) >= 2 and data[0] & 0x0F == 8 and ((data[0] << 8) | data[1]) % 31 == 0
