"""A real DNS server for discovery tests: Debian's dnsmasq on 127.0.0.1, serving SRV
records it is restarted to change (dnsmasq re-reads hosts files on SIGHUP, not SRV
lines), with a TTL of 1 s."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Sequence

import dns.message
import dns.query

from tests.integration.routers import require

DOMAIN = "surge.test"


def free_udp_port() -> int:
    """A port free for UDP and TCP both: dnsmasq binds the two, and fails if either is taken."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = int(u.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no port free for both UDP and TCP on 127.0.0.1")


class Dnsmasq:
    """`dnsmasq` in the foreground answering `_http._tcp.COLOR.surge.test` SRV queries."""

    def __init__(self) -> None:
        self.binary = require("dnsmasq", shutil.which("dnsmasq") or _sbin("dnsmasq"))
        self.port = free_udp_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def name(color: str) -> str:
        return f"_http._tcp.{color}.{DOMAIN}"

    def url(self, color: str) -> str:
        return f"srv://127.0.0.1:{self.port}/{self.name(color)}"

    def serve(self, pools: dict[str, Sequence[int]]) -> None:
        """(Re)start with these ports per color, all on 127.0.0.1; ready when it answers."""
        self.stop()
        args = [
            self.binary,
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            f"--port={self.port}",
            "--local-ttl=1",
            "--user=root" if _root() else "--user=" + _user(),
            "--pid-file=",
            f"--host-record=instances.{DOMAIN},127.0.0.1",
        ]
        for color, ports in pools.items():
            args += [f"--srv-host={self.name(color)},instances.{DOMAIN},{p}" for p in ports]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("dnsmasq did not start")
            time.sleep(0.02)

    def _answers(self) -> bool:
        query = dns.message.make_query(f"instances.{DOMAIN}", "A")
        try:
            dns.query.udp(query, "127.0.0.1", port=self.port, timeout=0.2)
        except Exception:
            return False
        return True

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=5)
        self.proc = None


def _sbin(name: str) -> str | None:
    import os

    path = f"/usr/sbin/{name}"
    return path if os.access(path, os.X_OK) else None


def _root() -> bool:
    import os

    return os.geteuid() == 0


def _user() -> str:
    import getpass

    return getpass.getuser()
