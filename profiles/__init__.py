"""The profiles Surge ships: installed with the package, so `surge demo` and
`surge run example` work from any folder, not only from a checkout."""

from __future__ import annotations

from pathlib import Path

SHIPPED = Path(__file__).resolve().parent


def shipped(name: str) -> Path | None:
    """The shipped profile called `name` (with or without `.toml`), if there is one."""
    stem = name.removesuffix(".toml")
    if not stem or "/" in stem or "\\" in stem or stem.startswith("."):
        return None
    path = SHIPPED / f"{stem}.toml"
    return path if path.is_file() else None


def names() -> list[str]:
    """Every shipped profile's name, for hints ("no such profile file: ... or one of ...")."""
    return sorted(p.stem for p in SHIPPED.glob("*.toml"))
