"""A small app to start from a recipe, and `surge proxy` with empty pools to register it
with: shared by the rollouts that really deploy (tests/integration/test_recipe_rollouts.py)
and the console's recipe tests (tests/app/test_app_recipes.py).
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from engine.deploy.recipe import Health, Recipe
from tui.cli.deploy_cmd import empty_proxy

__all__ = ["APP", "alive", "app", "app_command", "pids_of", "proxy"]

# The small app: answers / and /health, writes its pid to PIDS/{instance}.pid and says
# SAID on stdout (its log); with --never-healthy it writes the pid and never listens;
# with --errors it answers 500 (but to /health); /slow answers after 1.5 s.
SAID = "app {name} up on port {port}"
APP = textwrap.dedent(
    f"""
    import http.server, os, sys
    port, name, pids = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    with open(os.path.join(pids, name + ".tmp"), "w") as f:  # whole, or not there at all
        f.write(str(os.getpid()))
    os.replace(os.path.join(pids, name + ".tmp"), os.path.join(pids, name + ".pid"))
    print({SAID!r}.format(name=name, port=port), flush=True)
    if "--never-healthy" in sys.argv:
        import time
        time.sleep(120)
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def do_GET(self):
            if self.path == "/slow":
                import time
                time.sleep(1.5)
            body = name.encode()
            failing = "--errors" in sys.argv and self.path != "/health"
            self.send_response(500 if failing else 200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *a):
            pass
    http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
    """
)


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`surge proxy` with empty pools, as `surge deploy compare` starts it: the rollout
    adds every instance itself. Yields (proxy URL, admin URL)."""
    with empty_proxy(tmp_path) as urls:
        yield urls


def app_command(tmp_path: Path, *extra: str) -> list[str]:
    """The small app's argv, written to tmp_path (its pid files in tmp_path/pids)."""
    script = tmp_path / "app.py"
    script.write_text(APP)
    pids = tmp_path / "pids"
    pids.mkdir(exist_ok=True)
    return [sys.executable, str(script), "{port}", "{instance}", str(pids), *extra]


def app(tmp_path: Path, *extra: str, instances: int = 3, timeout: float = 5.0) -> Recipe:
    command = tuple(app_command(tmp_path, *extra))
    return Recipe(command, instances, Health("/health", timeout), stop_grace=2.0)


def pids_of(tmp_path: Path, color: str) -> list[int]:
    return [int(p.read_text()) for p in sorted((tmp_path / "pids").glob(f"{color}-*.pid"))]


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
