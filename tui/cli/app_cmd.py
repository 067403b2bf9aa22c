"""`surge [PROFILE] [--type TYPE] [--start] ...`: open the live console.

The command line is checked before the terminal is taken over, so a typo in a
profile or a flag is one line on stderr and exit code 2, as with `surge run`.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from engine.addresses import is_url
from engine.exit_codes import EXIT_BAD_INPUT
from engine.profile import ProfileError, adhoc_profile, load_profile, resolve_profile
from engine.profile.plan import Overrides
from engine.report.review import Review
from profiles import names as shipped_names
from tui.app.catalog import user_profile_dir
from tui.app.watchdog import ExitWatchdog
from tui.cli.argtypes import SuggestingParser, tell_notes
from tui.cli.flags import add_load_flags, add_profile_flags, add_redirect_flag, load_overrides

if TYPE_CHECKING:
    from tui.app.app import SurgeApp


def build_parser() -> argparse.ArgumentParser:
    p = SuggestingParser(
        prog="surge",
        usage="surge [PROFILE|URL] [--type TYPE] [--start] [--env NAME] [--profiles DIR] "
        "[--base-url URL] [load options]",
        description="Open the live console. Without PROFILE, a picker lists the profiles in "
        "./profiles, the config folder, --profiles DIR and the shipped ones. Commands: surge "
        "run|sut|demo|report (surge --help).",
    )
    p.add_argument(
        "profile",
        nargs="?",
        metavar="PROFILE|URL",
        help="a profile file, or a URL for an ad-hoc test (as surge run URL): skip the picker",
    )
    p.add_argument("--start", action="store_true", help="begin the run at once (needs PROFILE)")
    add_profile_flags(
        p, type_help="test type (default with PROFILE: the profile's own [load], as `surge run`)"
    )
    p.add_argument(
        "--profiles", action="append", default=[], metavar="DIR", help="more profiles (repeatable)"
    )
    add_load_flags(p.add_argument_group("load options (prefill the picker's form)"))
    add_redirect_flag(p)
    p.add_argument(
        "--reports", default="reports", metavar="DIR", help="where reports are saved by default"
    )
    return p


def read_keymap(path: Path) -> dict[str, str]:
    """`binding id = "keys"` lines, e.g. `"run.pause" = "space"`; absent file = no changes."""
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    bad = [k for k, v in data.items() if not isinstance(v, str)]
    if bad:
        raise ValueError(f'{path}: {bad[0]}: expected a key string such as "ctrl+p"')
    return dict(data)


def fail(message: str) -> int:
    print(f"surge: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def user_keymap() -> dict[str, str]:
    """~/.config/surge/keymap.toml; ValueError (one line) when it is broken."""
    return read_keymap(user_profile_dir().parent / "keymap.toml")


def open_review(review: Review, base: Review | None, report_dir: str) -> int:
    """The console on a saved report's summary (`surge report open`), `base` overlaid."""
    try:
        keymap = user_keymap()
    except ValueError as exc:
        return fail(str(exc))
    from tui.app.app import make_app

    return run_app(make_app(review=review, base=base, report_dir=report_dir, keymap=keymap))


def run_app(app: SurgeApp, also_stop: Callable[[], object] | None = None) -> int:
    """Run the console; however it ends (a crash, a signal, a lost terminal), the measured
    run is kept and the instances it started from recipes are stopped. After SIGTERM or
    SIGHUP the process ends within the watchdog's deadline, even if Textual cannot.
    `also_stop` ends what the caller started for the app (the demo's servers and proxy)
    on the watchdog's way out too, where the caller's `with` block never exits."""

    def save_and_stop(why: str) -> object:
        try:
            return app.save_if_lost(why)
        finally:
            if also_stop is not None:
                also_stop()

    app.on_stop_signal = ExitWatchdog(
        save=save_and_stop, grace=app.stop_grace, code=lambda: app.exit_code
    ).arm
    try:
        return int(app.run() or 0)
    finally:
        said = app.save_if_lost("the app ended before the run was saved")
        if said is not None:
            with contextlib.suppress(OSError):  # the terminal may be gone
                print(f"surge: {said}", file=sys.stderr)


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    if args.start and args.profile is None:
        return fail("--start needs a PROFILE to run")
    if args.profile is not None and is_url(args.profile):
        try:  # the profile `surge run URL` runs; the console builds it again
            adhoc_profile(args.profile)
        except ProfileError as exc:
            return fail(str(exc))
    elif args.profile is not None:
        args.profile = str(resolve_profile(args.profile))
        if not Path(args.profile).is_file():
            from tui.cli.main import COMMANDS  # main dispatches here: imported when needed

            shipped = ", ".join(shipped_names())
            return fail(
                f"{args.profile}: no such profile file "
                f"(a shipped one: {shipped}; or a command: {', '.join(COMMANDS)})"
            )
        try:
            tell_notes(args, load_profile(args.profile, env=args.env, base_url=args.base_url))
        except ProfileError as exc:
            return fail(str(exc))
    for folder in args.profiles:
        if not Path(folder).is_dir():
            return fail(f"--profiles {folder}: no such folder")
    try:
        keymap = user_keymap()
    except ValueError as exc:
        return fail(str(exc))
    from tui.app.app import make_app  # Textual loads only when the console opens

    app = make_app(
        args.profile,
        test_type=args.test_type,
        start=args.start,
        env=args.env,
        base_url=args.base_url,
        profiles=args.profiles,
        overrides=Overrides(**load_overrides(args)),
        report_dir=args.reports,
        keymap=keymap,
    )
    return run_app(app)
