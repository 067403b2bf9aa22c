"""Placeholder: registers nothing until its feature lands."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add this module's subcommands to `surge`'s subparsers."""
    del sub


_ = argparse
