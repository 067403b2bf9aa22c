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


def test_the_command_line_starts_without_the_deploy_driver_or_httpx() -> None:
    """`surge run --help` and `surge run URL` start fast: the driver, the routers' clients
    (httpx) and DNS load only for a run with [deploy], a demo or a comparison."""
    code = (
        "import sys\n"
        "import tui.cli.main as m\n"
        "m.build_parser()\n"
        "heavy = ('httpx', 'dns', 'engine.deploy.driver', 'engine.deploy.routers', 'textual')\n"
        "print(sorted(n for n in sys.modules if n.startswith(heavy)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr
