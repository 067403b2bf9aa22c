"""Where profiles come from: ./profiles, the user's config folder, and --profiles DIR.

A profile that fails to load is still listed, with its one-line error, so a
typo shows up in the picker instead of making the file silently disappear.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.profile import Profile, ProfileError, discover_profiles, load_profile
from profiles import SHIPPED


def user_profile_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "surge" / "profiles"


def profile_dirs(extra: Sequence[Path] = ()) -> list[Path]:
    """Search order: the project's ./profiles, then the user's own, then --profiles, then
    the shipped ones (wherever `surge` starts, as `surge run example` finds them)."""
    return [Path("profiles"), user_profile_dir(), *extra, SHIPPED]


@dataclass(frozen=True)
class ProfileEntry:
    """A profile file as listed; `path` None for one from a URL (`surge URL`)."""

    path: Path | None
    profile: Profile | None
    error: str | None = None

    @property
    def name(self) -> str:
        if self.profile is not None:
            return self.profile.name
        return self.path.name if self.path is not None else "?"


def short_error(exc: ProfileError, path: Path) -> str:
    """The error with the file's name instead of its whole path: the picker lists files."""
    text = str(exc)
    return path.name + text[len(exc.file) :] if text.startswith(exc.file) else text


def load_entry(path: Path, *, env: str | None = None, base_url: str | None = None) -> ProfileEntry:
    try:
        return ProfileEntry(path, load_profile(path, env=env, base_url=base_url))
    except ProfileError as exc:
        return ProfileEntry(path, None, short_error(exc, path))


def _identity(path: Path) -> Path | tuple[str, bytes]:
    try:
        return (path.name, path.read_bytes())
    except OSError:  # listed with its error by load_entry
        return path.resolve()


def load_catalog(
    dirs: Sequence[Path], *, first: Path | None = None, base_url: str | None = None
) -> list[ProfileEntry]:
    """Every profile found, `first` (a profile named on the command line) at the top."""
    paths, seen = [], set()
    for path in discover_profiles(dirs):
        # ./profiles in a checkout holds the shipped files (the same files in an editable
        # install, copies of them in an installed one): one entry for the same bytes.
        key = _identity(path)
        if key not in seen:
            seen.add(key)
            paths.append(path)
    if first is not None:
        resolved = first.resolve()
        paths = [first, *(p for p in paths if p.resolve() != resolved)]
    return [load_entry(p, base_url=base_url) for p in paths]
