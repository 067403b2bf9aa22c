"""Which color a request goes to: header override, sticky cookie, then exact shares.

The color is chosen by smooth weighted round-robin (nginx's algorithm), which makes the
shares exact over any window of `blue + green` requests, where coin flips wander by
a few percent over a thousand requests and would make a 1% canary look like 0% or 3%.
"""

from __future__ import annotations

from engine.deploy.strategies import Weights

__all__ = ["SmoothWeighted", "choose_color"]

_COOKIE = b"surge_color="


class SmoothWeighted:
    """nginx's smooth weighted round-robin over the two colors.

    Each pick adds every weight to its running credit and takes the color with the
    most credit, which then pays the total. The sequence repeats every `blue + green`
    picks with exact counts, and in any window the count of a color is within one of
    its share. Setting weights resets the credits, so the new split holds from the
    very next request.
    """

    __slots__ = ("_blue", "_cb", "_cg", "_green", "_total")

    def __init__(self, blue: int, green: int) -> None:
        self.set(blue, green)

    def set(self, blue: int, green: int) -> None:
        self._blue = blue
        self._green = green
        self._total = blue + green
        self._cb = 0
        self._cg = 0

    def pick(self) -> int:
        """0 for blue, 1 for green."""
        cb = self._cb + self._blue
        cg = self._cg + self._green
        if cb >= cg:
            self._cb = cb - self._total
            self._cg = cg
            return 0
        self._cb = cb
        self._cg = cg - self._total
        return 1


def choose_color(
    override: bytes | None, cookie: bytes | None, weights: Weights, picker: SmoothWeighted
) -> tuple[int, bool]:
    """(color index, picked by weight): -1 for an override that names no color.

    The `x-surge-color` header wins; then the sticky cookie, while its color still has
    weight (a rolled-back green must not keep its pinned clients); then the picker.
    """
    if override is not None:
        if override == b"blue":
            return 0, False
        if override == b"green":
            return 1, False
        return -1, False
    if cookie is not None:
        i = cookie.find(_COOKIE)
        if i >= 0:
            value = cookie[i + len(_COOKIE) :].split(b";", 1)[0].strip()
            color = 0 if value == b"blue" else 1 if value == b"green" else -1
            if color >= 0 and weights[color] > 0:
                return color, False
    return picker.pick(), True
