"""Profiles: the TOML files users write, validated into typed values, and the run plan
built from a profile and the command line's overrides.

The public face; the modules behind it are split by job: `model` (the values),
`loader` (finding, reading, the top-level tables), `fields` (the validators every
table shares), `http_fields`, `flow`, `deploy`, `locate` (lines of key paths)
and `plan` (profile + overrides -> RunPlan).
"""

from __future__ import annotations

from engine.profile.deploy import DeployPlan, parse_deploy
from engine.profile.http_fields import parse_statuses
from engine.profile.loader import (
    adhoc_profile,
    discover_profiles,
    load_profile,
    parse_header,
    parse_profile,
    resolve_profile,
)
from engine.profile.locate import find_line, format_key
from engine.profile.model import Endpoint, Profile, ProfileError
from engine.profile.plan import Overrides, build_plan, choose_executor, default_workers

__all__ = [
    "DeployPlan",
    "Endpoint",
    "Overrides",
    "Profile",
    "ProfileError",
    "adhoc_profile",
    "build_plan",
    "choose_executor",
    "default_workers",
    "discover_profiles",
    "find_line",
    "format_key",
    "load_profile",
    "parse_deploy",
    "parse_header",
    "parse_profile",
    "parse_statuses",
    "resolve_profile",
]
