"""A metric's `success` and `failure` conditions: parsed once, when the profile loads,
into a predicate on the measured number (`result`).

The grammar is small on purpose (README: "Judging with metrics and gates"):
comparisons of `result` with a number (`<`, `<=`, `>`, `>=`, `==`, `!=`, either side),
joined by `and` / `or` (`and` binds tighter), with parentheses. `result[0]` reads as
`result`, so a condition copied from an Argo Rollouts AnalysisTemplate works as is.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Condition", "parse_condition"]

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}
_FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "==": "==", "!=": "!="}
_TOKEN = re.compile(
    r"\s*(?:(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
    r"|(?P<result>result(?:\s*\[\s*0\s*\])?)"
    r"|(?P<op><=|>=|==|!=|<|>)"
    r"|(?P<word>and|or)\b"
    r"|(?P<paren>[()]))"
)

Predicate = Callable[[float], bool]


@dataclass(frozen=True)
class Condition:
    """A parsed condition: `holds(result)`, and the text as written (for reasons)."""

    text: str
    holds: Predicate = field(compare=False)  # equal conditions: equal texts

    def __str__(self) -> str:
        return self.text


def parse_condition(text: str) -> Condition:
    """`"result < 0.01"`, `"result >= 0.99 and result < 2"`; ValueError says what is wrong."""
    tokens = _tokens(text)
    if not tokens:
        raise ValueError("empty condition: write e.g. 'result < 0.01'")
    parser = _Parser(tokens)
    predicate = parser.either()
    if parser.pos != len(tokens):
        raise ValueError(f"unexpected {tokens[parser.pos][1]!r} in {text!r}")
    return Condition(text.strip(), predicate)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            bad = text[pos:].strip().split()[0]
            raise ValueError(f"cannot read {bad!r} in {text!r} (conditions compare result)")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    """either := both ('or' both)*; both := atom ('and' atom)*;
    atom := '(' either ')' | side OP side, one side `result`, the other a number."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def _peek(self) -> tuple[str, str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", "the end")

    def _take(self, kind: str) -> str:
        got, value = self._peek()
        if got != kind:
            raise ValueError(f"expected {_WANTED[kind]}, got {value!r}")
        self.pos += 1
        return value

    def either(self) -> Predicate:
        parts = [self.both()]
        while self._peek() == ("word", "or"):
            self.pos += 1
            parts.append(self.both())
        return parts[0] if len(parts) == 1 else (lambda r: any(p(r) for p in parts))

    def both(self) -> Predicate:
        parts = [self.atom()]
        while self._peek() == ("word", "and"):
            self.pos += 1
            parts.append(self.atom())
        return parts[0] if len(parts) == 1 else (lambda r: all(p(r) for p in parts))

    def atom(self) -> Predicate:
        if self._peek() == ("paren", "("):
            self.pos += 1
            inner = self.either()
            if self._peek() != ("paren", ")"):
                raise ValueError(f"expected ')', got {self._peek()[1]!r}")
            self.pos += 1
            return inner
        kind = self._peek()[0]
        if kind == "result":
            self.pos += 1
            op = self._take("op")
            bound = float(self._take("num"))
        else:
            bound = float(self._take("num"))
            op = _FLIP[self._take("op")]
            self._take("result")
        compare = _OPS[op]
        return lambda r: compare(r, bound)


_WANTED = {
    "op": "a comparison (<, <=, >, >=, ==, !=)",
    "num": "a number",
    "result": "result",
}
