"""Debian's nginx for tests: started in the foreground with a config written here, on free
loopback ports, and stopped afterwards (`with running(folder, conf, ports):`)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

# The top of every config: one foreground worker, everything it writes under {dir}; the
# `http` block is left open for the caller's servers (and its closing brace).
HEAD = """\
worker_processes 1;
daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    default_type text/plain;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    absolute_redirect off;
"""
# A login that sets a cookie and redirects to a page that wants it (a `server` block's
# locations; `{login}` in a config).
LOGIN = """\
        location = /login {
            add_header Set-Cookie "sid=s3cret; Path=/" always;
            return 302 /page;
        }
        location = /page {
            if ($cookie_sid = "s3cret") { return 200 "welcome\\n"; }
            return 403 "no cookie\\n";
        }
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running(folder: Path, conf: str, ports: Iterable[int]) -> Iterator[None]:
    """nginx with `conf` (written to `folder`), once every one of `ports` accepts."""
    assert Path(NGINX).exists(), "nginx missing: make test installs it (scripts/install-tools.sh)"
    path = folder / "nginx.conf"
    path.write_text(conf)
    argv = [NGINX, "-e", str(folder / "error.log"), "-p", str(folder), "-c", str(path)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with serving(proc, ports, "nginx"):
        yield


@contextlib.contextmanager
def serving(
    proc: subprocess.Popen[bytes], ports: Iterable[int], name: str, seconds: float = 10.0
) -> Iterator[None]:
    """A server process, once every one of `ports` on 127.0.0.1 accepts; stopped after."""
    deadline = time.monotonic() + seconds
    for port in ports:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    raise RuntimeError(f"{name} did not start: {proc.stderr!r}") from None
                time.sleep(0.05)
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
