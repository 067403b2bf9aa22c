"""argparse value types shared by `surge run` and `surge [PROFILE]`: one message each."""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from engine.durations import parse_duration
from engine.errors import did_you_mean
from engine.limits import MAX_TIME_SCALE, MAX_WORKERS

if TYPE_CHECKING:
    from engine.profile import Profile


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def duration(text: str) -> float:
    """A duration > 0: `--duration 0` would be no run at all."""
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be longer than 0s, got {text!r}")
    return value


def time_scale(text: str) -> float:
    value = positive(text)
    if value > MAX_TIME_SCALE:
        raise argparse.ArgumentTypeError(f"at most {MAX_TIME_SCALE:g}, got {text}")
    return value


def workers(text: str) -> int:
    value = positive_int(text)
    if value > MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"at most {MAX_WORKERS}, got {value}")
    return value


class SuggestingParser(argparse.ArgumentParser):
    """argparse, with "did you mean --vus?" for a mistyped flag or choice (Python 3.14 has
    it built in; 3.11 does not), and an error that says the one useful line first,
    prefixed with the command's own name (`surge run: error: ...`), then where help is,
    not fourteen lines of usage. Subcommand parsers are made of the same class;
    `precheck` looks at a command's raw arguments before argparse reads them (another
    tool's habits that argparse would misread)."""

    def __init__(
        self, *args: Any, precheck: Callable[[Sequence[str]], str | None] | None = None, **kw: Any
    ) -> None:
        super().__init__(*args, **kw)
        self.precheck = precheck

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[no-untyped-def]
        if self.precheck is not None and args is not None and (problem := self.precheck(args)):
            self.error(problem)
        parsed, extras = super().parse_known_args(args, namespace)
        for extra in extras:
            if extra.startswith("-") and self._subparsers is None:
                flag = extra.split("=", 1)[0]
                hint = did_you_mean(flag, self._option_string_actions)
                if hint:
                    self.error(f"unrecognized arguments: {' '.join(extras)}{hint}")
        return parsed, extras

    def error(self, message: str) -> NoReturn:
        """One line naming the problem, then one pointing at --help; exit 2."""
        if match := _INVALID_CHOICE.match(message):
            choices = [c.strip().strip("'") for c in match["choices"].split(",")]
            message += did_you_mean(match["given"], choices)
        self.exit(2, f"{self.prog}: error: {message}\n  see: {self.prog} --help\n")


_INVALID_CHOICE = re.compile(
    r"argument .*: invalid choice: '(?P<given>.*)' \(choose from (?P<choices>.*)\)$"
)


class Foreign(argparse.Action):
    """A flag of another tool (oha, hey) that Surge spells differently: one line naming
    the Surge flag that does it (`said`), exit 2. Takes the value the other tool would;
    hidden from --help (the command's epilog lists them)."""

    def __init__(self, option_strings: Sequence[str], dest: str, *, said: str, **kw: Any) -> None:
        kw.update(nargs="?", help=argparse.SUPPRESS, default=argparse.SUPPRESS)
        super().__init__(option_strings, dest, **kw)
        self.said = said

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        parser.error(f"{option_string} is {self.said}")


def said(args: argparse.Namespace, kind: str, message: str) -> str:
    """`surge run: error: ...`: each command's lines name the command (`kind`: error or
    warning); `command` is the subcommand main dispatched to."""
    command = getattr(args, "command", None)
    return f"surge{' ' + command if command else ''}: {kind}: {message}"


def tell_notes(args: argparse.Namespace, profile: Profile) -> Profile:
    """The profile's notes (an old spelling read) on stderr, one line each; the profile."""
    for note in profile.notes:
        print(said(args, "note", note), file=sys.stderr)
    return profile


class WithDefaults(argparse.HelpFormatter):
    """--help that gives each flag's default (unless its help already says it or there is
    none) and keeps an example (text starting "example") as written, unwrapped."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("example"):
            return indent + text
        return super()._fill_text(text, width, indent)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            not action.option_strings
            or default in (None, False, [], argparse.SUPPRESS)
            or "default" in text
        ):
            return text
        return f"{text} (default %(default)s)"
