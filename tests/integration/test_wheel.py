"""`pip install .` alone gives a working `surge`, from any folder.

Installs the project (not editable) into a fresh venv outside the repository, then
runs the shipped profiles from an empty folder: they must come from the installed
package data, not from a checkout. The one test here that reaches the package index
(for the dependencies; pip's cache makes it ~25 s).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The bin folder of a fresh venv with Surge installed from the source tree."""
    home = tmp_path_factory.mktemp("wheel")
    # From a copy: a build writes build/ and *.egg-info beside the sources.
    source = home / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(".*", "build", "*.egg-info", "__pycache__", "reports"),
    )
    env_dir = home / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    proc = subprocess.run(
        [bin_dir / "pip", "install", "--quiet", "--disable-pip-version-check", str(source)],
        cwd=home,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    yield bin_dir


def run(bin_dir: Path, cwd: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["NO_COLOR"] = "1"
    return subprocess.run(
        [bin_dir / "surge", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@pytest.mark.timeout(300)
def test_installed_surge_runs_the_shipped_profiles_from_any_folder(
    installed: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "empty"
    elsewhere.mkdir()
    # The installed code, not the checkout, answers (no repository on its path).
    probe = subprocess.run(
        [installed / "python", "-c", "import engine, profiles; print(engine.__file__)"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
    )
    assert str(ROOT) not in probe.stdout and "site-packages" in probe.stdout, probe.stderr

    demo = run(installed, elsewhere, "demo", "--headless", "--time-scale", "0.002")
    assert demo.returncode in (0, 3, 99), demo.stderr  # 3: the flawed green rolled back
    assert "deploy" in demo.stdout and "UPSTREAM" in demo.stdout

    server = subprocess.Popen(
        [installed / "surge", "sut", "--port", "0"],
        cwd=elsewhere,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert "listening on" in line, server.stderr.read() if server.stderr else line
        url = line.rsplit(" ", 1)[-1].strip()
        smoke = run(installed, elsewhere, "run", "example", "--type", "smoke", "--base-url", url)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    assert "http_reqs" in smoke.stdout
    assert not (elsewhere / "profiles").exists()


def test_a_profile_path_wins_over_a_shipped_name(installed: Path, tmp_path: Path) -> None:
    """`surge run example` finds the shipped one; a file of that name here comes first."""
    (tmp_path / "example").write_text("this is not TOML [")
    out = run(installed, tmp_path, "run", "example", "--type", "smoke")
    assert out.returncode == 2
    assert "example" in out.stderr and "Traceback" not in out.stderr


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
