"""Bounded state for the demo SUT: tokens and jobs must not grow through a long soak."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, MutableMapping
from typing import TypeVar

__all__ = ["BoundedDict"]

K = TypeVar("K")
V = TypeVar("V")


class BoundedDict(MutableMapping[K, V]):
    """A dict that forgets its oldest entries beyond `cap`.

    Tokens and jobs are created per virtual-user iteration; a 24 h soak would
    otherwise grow them without bound. OrderedDict is used rather than dict because
    repeatedly deleting a plain dict's first key leaves holes that make
    `next(iter(d))` progressively slower.
    """

    __slots__ = ("_d", "cap")

    def __init__(self, cap: int) -> None:
        if cap < 1:
            raise ValueError("cap must be >= 1")
        self.cap = cap
        self._d: OrderedDict[K, V] = OrderedDict()

    def __getitem__(self, key: K) -> V:
        return self._d[key]

    def __setitem__(self, key: K, value: V) -> None:
        d = self._d
        if key in d:
            d.move_to_end(key)
        d[key] = value
        while len(d) > self.cap:
            d.popitem(last=False)

    def __delitem__(self, key: K) -> None:
        del self._d[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __contains__(self, key: object) -> bool:
        return key in self._d
