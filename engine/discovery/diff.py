"""What changed between two resolutions of a pool: a pure function, a table test."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from engine.discovery.sources import Target

__all__ = ["PoolChange", "diff_pools"]


@dataclass(frozen=True)
class PoolChange:
    added: tuple[Target, ...] = ()
    removed: tuple[Target, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed)


def diff_pools(old: Iterable[Target], new: Iterable[Target]) -> PoolChange:
    """Targets in `new` only (added) and in `old` only (removed), each sorted; the
    registry's order and duplicates do not matter."""
    before, after = set(old), set(new)
    return PoolChange(tuple(sorted(after - before)), tuple(sorted(before - after)))
