"""TLS options in both clients, against loopback TLS servers with certificates from a
throwaway CA (trustme): `--cacert` (and the profile key `cacert`), client certificates
(`--cert`, `--key`), `--insecure` under both its spellings, and bad files refused before
the run with exit 2 and one line naming the flag or `file:line: key`."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from pathlib import Path
from typing import Any

import pytest

from engine.errors import ConfigError
from engine.profile import adhoc_profile, load_profile
from engine.profile.model import ProfileError
from engine.profile.plan import Overrides, build_plan
from tests.conftest import ROOT, run_surge, surge_cmd
from tests.integration.test_bytes import CLIENTS, RESPONSE, Counting, run, tls_files

__all__ = ["tls_files"]  # the fixture, shared with test_bytes.py


def _plan(url: str, client: str, n: int = 6, **tls: Any) -> Any:
    overrides = Overrides(iterations=n, vus=2, client=client, workers=1, **tls)
    return build_plan(adhoc_profile(url + "/"), overrides, interval=0.5)


@pytest.mark.parametrize("client", CLIENTS)
async def test_an_unknown_ca_is_a_tls_error_until_cacert_names_it(
    client: str, tls_files: dict[str, Any]
) -> None:
    async with Counting(ssl_context=tls_files["server_ctx"]()) as srv:
        refused = await run(_plan(srv.url, client))
        assert refused.model.figures().errors == {"tls": 6}
        assert srv.requests == []  # nothing was sent over an unverified connection
        ok = await run(_plan(srv.url, client, cacert=tls_files["ca"]))
        assert ok.model.figures().status == {200: 6}
        assert ok.model.figures().errors == {}
        skipped = await run(_plan(srv.url, client, insecure=True))
        assert skipped.model.figures().status == {200: 6}


@pytest.mark.parametrize("client", CLIENTS)
async def test_profile_tls_keys_are_relative_to_the_profile_folder(
    client: str, tls_files: dict[str, Any]
) -> None:
    folder: Path = tls_files["dir"]
    async with Counting(ssl_context=tls_files["server_ctx"](require_client_cert=True)) as srv:
        profile_file = folder / "mtls.toml"
        profile_file.write_text(
            f'name = "mtls"\nbase_url = "{srv.url}"\nclient = "{client}"\n'
            'cacert = "ca.pem"\ncert = "client.crt"\nkey = "client.key"\n'
        )
        profile = load_profile(profile_file)
        assert profile.cacert == str(folder / "ca.pem")
        plan = build_plan(profile, Overrides(iterations=5, vus=1, workers=1), interval=0.5)
        result = await run(plan)
    assert result.model.figures().status == {200: 5}
    assert len(srv.requests) == 5


class StrictTls:
    """A TLS server requiring client certificates that refuses as OpenSSL servers do: the
    alert is written by a blocking handshake, then the connection is drained to its EOF
    (asyncio's server aborts instead, and an RST can overtake the alert). One thread per
    connection, blocking sockets, HTTP/1.1 keep-alive with RESPONSE."""

    def __init__(self, ctx: ssl.SSLContext) -> None:
        self.ctx = ctx
        self.requests: list[bytes] = []
        self.refused = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.url = f"https://127.0.0.1:{self._sock.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> StrictTls:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                raw, _ = self._sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        raw.settimeout(3)
        try:
            conn = self.ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            self.refused += 1
            with contextlib.suppress(OSError):
                raw.shutdown(socket.SHUT_WR)  # the alert is out; let the client close first
                while raw.recv(4096):
                    pass
            raw.close()
            return
        buf = b""
        with conn:
            try:
                while True:
                    while b"\r\n\r\n" not in buf:
                        chunk = conn.recv(4096)
                        if not chunk:
                            return
                        buf += chunk
                    head, _, buf = buf.partition(b"\r\n\r\n")
                    self.requests.append(head)
                    conn.sendall(RESPONSE)
            except (ssl.SSLError, OSError):
                return


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
@pytest.mark.parametrize("given", ["cert+key", "cert-with-key", "none"])
async def test_a_server_requiring_client_certificates(
    client: str, version: str, given: str, tls_files: dict[str, Any]
) -> None:
    tls: dict[str, Any] = {"cacert": tls_files["ca"]}
    if given == "cert+key":
        tls.update(cert=tls_files["cert"], key=tls_files["key"])
    elif given == "cert-with-key":
        tls.update(cert=tls_files["both"])
    ctx = tls_files["server_ctx"](require_client_cert=True)
    ctx.maximum_version = ssl.TLSVersion[version]
    with StrictTls(ctx) as srv:
        result = await run(_plan(srv.url, client, n=6, **tls))
    f = result.model.figures()
    if given == "none" and version == "TLSv1_2":
        assert f.errors == {"tls": 6}, f.errors  # refused inside the client's handshake
        assert f.status == {}
        assert srv.requests == [] and srv.refused == 6
    elif given == "none":
        # TLS 1.3 refuses the certificate after the client's handshake is done: the alert
        # is read as `tls`, unless the server's close overtakes it (a reset; any client sees
        # that race). Never a response, never a request through.
        assert sum(f.errors.values()) == 6 and set(f.errors) <= {"tls", "connection reset"}
        assert f.status == {}
        assert srv.requests == [] and srv.refused == 6
    else:
        assert f.status == {200: 6} and f.errors == {}
        assert len(srv.requests) == 6 and srv.refused == 0


# ------------------------------------------------------- bad files, before the run


def _bad(tls_files: dict[str, Any]) -> dict[str, str]:
    folder: Path = tls_files["dir"]
    (folder / "notpem.txt").write_text("hello\n")
    (folder / "enc.key").write_text(
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n"
    )
    import trustme

    other = trustme.CA().issue_cert("x.test")  # a key that matches no certificate given
    other.private_key_pem.write_to_path(str(folder / "other.key"))
    return {k: str(folder / k) for k in ("notpem.txt", "enc.key", "other.key", "missing.pem")}


@pytest.mark.parametrize(
    ("flags", "key", "says"),
    [
        ({"cacert": "missing.pem"}, "--cacert", "no such file"),
        ({"cacert": "notpem.txt"}, "--cacert", "no PEM certificate"),
        ({"cert": "notpem.txt"}, "--cert", "no PEM certificate"),
        ({"cert": "cert"}, "--cert", "no PEM private key in it (give the key"),
        ({"cert": "cert", "key": "other.key"}, "--key", "does not match"),
        ({"cert": "cert", "key": "enc.key"}, "--key", "encrypted"),
        ({"key": "key"}, "--key", "needs its certificate"),
    ],
)
def test_bad_tls_files_are_refused_naming_the_flag(
    tls_files: dict[str, Any], flags: dict[str, str], key: str, says: str
) -> None:
    bad = _bad(tls_files)
    paths = {**bad, "cert": tls_files["cert"], "key": tls_files["key"]}
    given = {k: paths[v] for k, v in flags.items()}
    with pytest.raises(ConfigError) as err:
        _plan("https://127.0.0.1:9", "wire", **given)
    assert err.value.key == key
    assert says in err.value.message
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("line", "key", "says"),
    [
        ('cacert = "nope.pem"', "cacert", "no such file"),
        ('cacert = ""', "cacert", "must not be empty"),
        ("cert = 3", "cert", "expected a string"),
        ('key = "client.key"', "key", "needs its certificate"),
        ('cert = "client.crt"\nkey = "other.key"', "key", "does not match"),
    ],
)
def test_bad_tls_keys_in_a_profile_name_file_line_and_key(
    tls_files: dict[str, Any], line: str, key: str, says: str
) -> None:
    _bad(tls_files)
    path = tls_files["dir"] / "bad.toml"
    path.write_text(f'name = "bad"\nbase_url = "https://127.0.0.1:9"\n{line}\n')
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    want_line = 3 + line.count("\n") if key == "key" and "\n" in line else 3
    assert (err.value.line, err.value.key) == (want_line, key)
    assert says in err.value.message


def test_the_cli_refuses_a_bad_tls_file_with_exit_2_and_one_line(tls_files: dict[str, Any]) -> None:
    missing = str(tls_files["dir"] / "missing.pem")
    for flag in ("--cacert", "--cert"):
        done = run_surge("run", "https://127.0.0.1:9/", "--iterations", "1", flag, missing)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and flag in lines[0] and "no such file" in lines[0], lines


@pytest.mark.parametrize("spelling", ["--insecure", "--insecure-skip-tls-verify", "--cacert"])
async def test_the_cli_flags_reach_both_ends(spelling: str, tls_files: dict[str, Any]) -> None:
    """`surge run URL --insecure-skip-tls-verify` (k6's spelling) or `--cacert` passes."""
    extra = [spelling] if spelling != "--cacert" else [spelling, tls_files["ca"]]
    async with Counting(ssl_context=tls_files["server_ctx"]()) as srv:
        cmd = surge_cmd("run", srv.url + "/", "--iterations", "4", "--workers", "1", *extra)
        proc = await asyncio.create_subprocess_exec(
            *cmd, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    assert len(srv.requests) == 4
    assert b"http_reqs" in out
