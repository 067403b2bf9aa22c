"""The one small Response type both clients return, so checks never care which ran."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Response:
    status: int
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    # Set when the body passed max_body: only this many (decoded) bytes were kept, so a
    # check that needs the whole body cannot pass (engine/http/body.py).
    cut_at: int | None = None
    # The Content-Encoding the body came in when Surge could not decode it (nothing kept).
    undecodable: str | None = None

    def header(self, name: str) -> str | None:
        """First value of a header, case-insensitively; decoded lazily (hot path stays raw)."""
        want = name.lower().encode("latin-1")
        for k, v in self.headers:
            if k.lower() == want:
                return v.decode("latin-1")
        return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)
