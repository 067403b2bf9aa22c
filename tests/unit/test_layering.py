"""engine/ never imports Textual: the headless CLI and remote workers must not need it."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import engine
from tests.conftest import ROOT


def test_engine_imports_no_textual() -> None:
    modules = [
        m.name
        for m in pkgutil.walk_packages(engine.__path__, "engine.")
        if not m.name.endswith("__main__")
    ]
    assert "engine.load.worker" in modules and "engine.proxy.server" in modules
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'tui'))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
