"""The cipher order Surge offers: Go's (k6's), AES-128-GCM first, unless
SURGE_TLS_ORDER=openssl. Against a server that takes the client's order (nginx's
default, and these), the order decides the cipher, and with it the server's cost:
TLS 1.2 in every client context, TLS 1.3 in worker processes (OPENSSL_CONF)."""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.http import tls
from engine.http.tls import TlsOptions, client_context

ROOT = Path(__file__).resolve().parents[2]


class Server:
    """A TLS server on loopback that follows the client's cipher order, answers each
    request with an empty 200 and `Connection: close`, and notes each cipher."""

    def __init__(self, version: ssl.TLSVersion) -> None:
        import trustme

        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        trustme.CA().issue_cert("127.0.0.1").configure_cert(self.ctx)
        self.ctx.minimum_version = self.ctx.maximum_version = version
        self.ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = self.listener.getsockname()[:2]
        self.ciphers: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            try:
                with self.ctx.wrap_socket(raw, server_side=True) as conn:
                    self.ciphers.append((conn.cipher() or ("?",))[0])
                    data = b""
                    while b"\r\n\r\n" not in data and (chunk := conn.recv(4096)):
                        data += chunk
                    if data:
                        conn.sendall(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        )
            except (OSError, ssl.SSLError):
                pass

    def close(self) -> None:
        self.stop.set()
        socket.create_connection(self.address).close()  # wakes accept(): close() would not
        self.listener.close()
        self.thread.join(5)


@pytest.fixture(scope="module")
def tls12() -> Iterator[Server]:
    srv = Server(ssl.TLSVersion.TLSv1_2)
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def tls13() -> Iterator[Server]:
    srv = Server(ssl.TLSVersion.TLSv1_3)
    yield srv
    srv.close()


@pytest.mark.parametrize(("order", "want"), [(None, "AES128-GCM"), ("openssl", "AES256-GCM")])
def test_a_client_context_offers_aes_128_first_over_tls_1_2(
    tls12: Server, monkeypatch: pytest.MonkeyPatch, order: str | None, want: str
) -> None:
    if order is None:
        monkeypatch.delenv(tls.ORDER_ENV, raising=False)
    else:
        monkeypatch.setenv(tls.ORDER_ENV, order)
    client_context.cache_clear()  # the order is read when a process makes its context
    try:
        ctx = client_context(TlsOptions(insecure=True))
        with ctx.wrap_socket(socket.create_connection(tls12.address, timeout=5)) as conn:
            assert want in (conn.cipher() or ("",))[0]
    finally:
        client_context.cache_clear()


def test_worker_processes_offer_aes_128_first_over_tls_1_3(tls13: Server, tmp_path: Path) -> None:
    """Two workers, spawned with the OPENSSL_CONF that names Go's order (unless turned off);
    the in-process parent, whose `ssl` loaded long before, is not asked. The file is in
    a private directory of the run's: a symlink planted at the old predictable path in
    the temporary directory is not followed, and nothing is left there after the run."""
    tls13.ciphers.clear()
    tmp, victim = tmp_path / "tmp", tmp_path / "victim"
    tmp.mkdir()
    victim.write_text("mine\n")
    planted = tmp / f"surge-openssl-{os.getuid()}-{_digest()}.cnf"
    planted.symlink_to(victim)
    env = {k: v for k, v in os.environ.items() if k != "OPENSSL_CONF"}
    env.update({tls.ORDER_ENV: "go", "PYTHONPATH": str(ROOT), "NO_COLOR": "1"})
    env["TMPDIR"] = str(tmp)
    url = f"https://127.0.0.1:{tls13.address[1]}/"
    argv = [sys.executable, "-m", "tui.cli", "run", url, "--workers", "2", "--vus", "2"]
    argv += ["--iterations", "4", "--insecure", "-q"]
    subprocess.run(argv, env=env, cwd=ROOT, check=True, capture_output=True, timeout=60)
    assert len(tls13.ciphers) >= 2
    assert set(tls13.ciphers) == {"TLS_AES_128_GCM_SHA256"}  # OpenSSL's own: AES-256 first
    assert victim.read_text() == "mine\n"  # nothing written through the link
    assert [p.name for p in tmp.iterdir()] == [planted.name] and planted.is_symlink()


def _digest() -> str:
    """The digest in the predictable name Surge once used for the workers' file."""
    return hashlib.sha256(tls._OPENSSL_CONF.encode()).hexdigest()[:12]


def test_the_workers_openssl_conf_is_private_and_gone_after_the_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("OPENSSL_CONF", raising=False)
    monkeypatch.delenv(tls.ORDER_ENV, raising=False)
    tmp, victim = tmp_path / "tmp", tmp_path / "victim"
    tmp.mkdir()
    victim.write_text("mine\n")
    old = tmp / f"surge-openssl-{os.getuid()}-{_digest()}.cnf"  # the old paths, predictable
    planted = {old.name, f"{old.stem}.{os.getpid()}"}
    for name in planted:
        (tmp / name).symlink_to(victim)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    with pytest.raises(RuntimeError), tls.worker_tls_conf() as env:
        conf = Path(env["OPENSSL_CONF"])
        assert conf.parent.parent == tmp
        assert "Ciphersuites = TLS_AES_128_GCM_SHA256:" in conf.read_text()
        assert stat.S_IMODE(conf.parent.lstat().st_mode) == 0o700
        assert not conf.lstat().st_mode & 0o022 and conf.lstat().st_uid == os.getuid()
        with tls.worker_tls_order(env):
            assert os.environ["OPENSSL_CONF"] == str(conf)
        assert "OPENSSL_CONF" not in os.environ
        raise RuntimeError("the run failed")  # removed all the same
    assert victim.read_text() == "mine\n"  # nothing written through a link
    assert {p.name for p in tmp.iterdir() if p.is_symlink()} == planted == set(os.listdir(tmp))


def test_openssl_order_and_a_users_openssl_conf_leave_workers_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENSSL_CONF", raising=False)
    monkeypatch.setenv(tls.ORDER_ENV, "openssl")
    with tls.worker_tls_conf() as env:
        assert env == {}
    monkeypatch.delenv(tls.ORDER_ENV)
    monkeypatch.setenv("OPENSSL_CONF", "/etc/mine.cnf")
    with tls.worker_tls_conf() as env:
        assert env == {}
