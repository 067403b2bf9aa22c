"""Fixtures of the integration tests: real servers nobody here wrote."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.nginx import free_port, serving


@pytest.fixture(scope="session")
def httpbin() -> Iterator[str]:
    """The real httpbin (PyPI) under gunicorn on a free loopback port: an application nobody
    here wrote, for HTTP semantics (HEAD, br, 204). Stopped at the end of the session."""
    port = free_port()
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    argv = [gunicorn, "--bind", f"127.0.0.1:{port}", "--workers", "1", "httpbin:app"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with serving(proc, [port], "gunicorn", seconds=20):
        yield f"http://127.0.0.1:{port}"
