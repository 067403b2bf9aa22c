"""TLS options both clients share: verification off, a CA file, a client certificate.

One `TlsOptions` value travels in the work plan; each client turns it into an
`ssl.SSLContext` here, once per process and options (`client_context` is cached:
loading a CA bundle costs milliseconds, and a run may open thousands of VUs). The
files are checked before a run (`check`), so a typo in a path is exit 2 naming the
option, never a run of TLS errors. `--cacert` replaces the default roots (as curl's
does); `insecure` wins over it (nothing is verified).

The cipher order is Go's (k6's): AES-128-GCM before AES-256-GCM, so a server that takes
the client's order (nginx's default) encrypts for Surge as it does for k6. TLS 1.2's is
set per context; Python 3.11's `ssl` has no setter for TLS 1.3's suites, but OpenSSL
reads them from its configuration file when `ssl` loads, so worker processes start with
an OPENSSL_CONF naming Go's order (`worker_tls_conf`: a file in a private directory
of the run's, deleted when the run ends). The one in-process worker of
`--workers 1` keeps OpenSSL's TLS 1.3 order: its `ssl` loaded before any option was
read. `SURGE_TLS_ORDER=openssl` in the environment keeps OpenSSL's order everywhere;
an OPENSSL_CONF of the user's is kept.
"""

from __future__ import annotations

import contextlib
import functools
import os
import ssl
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

TLS_KEYS = ("cacert", "cert", "key")  # the profile keys and flags naming TLS files
_CERT_MARK = "-----BEGIN CERTIFICATE-----"
_KEY_MARK = "PRIVATE KEY-----"
# Go's crypto/tls order on a CPU with AES instructions, then Python's default list for the
# rest (a suite named twice keeps its first place).
GO_TLS12_ORDER = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
)
GO_TLS13_ORDER = "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384"
ORDER_ENV = "SURGE_TLS_ORDER"  # "openssl": keep OpenSSL's order
_OPENSSL_CONF = f"""\
# Written by Surge (engine/http/tls.py) for its worker processes: Go's TLS 1.3 order.
openssl_conf = surge_init
[surge_init]
ssl_conf = surge_ssl
[surge_ssl]
system_default = surge_tls
[surge_tls]
Ciphersuites = {GO_TLS13_ORDER}
"""


def _go_order() -> bool:
    return os.environ.get(ORDER_ENV, "go").lower() != "openssl"


@contextlib.contextmanager
def worker_tls_conf() -> Iterator[dict[str, str]]:
    """The environment worker processes need for Go's TLS 1.3 order, valid while the
    block runs: OpenSSL reads its configuration once, when `ssl` loads, so the file must
    be there before a worker starts. An OpenSSL configuration can load modules, so it
    goes in a fresh directory of this run's (mkdtemp: a random name, 0700, created
    exclusively; no path another user can predict, plant a symlink at or write), removed
    with the file when the block ends. Empty with SURGE_TLS_ORDER=openssl or an
    OPENSSL_CONF of the user's."""
    if not _go_order() or "OPENSSL_CONF" in os.environ:
        yield {}
        return
    with tempfile.TemporaryDirectory(prefix="surge-openssl-") as private:
        path = Path(private) / "openssl.cnf"
        path.write_text(_OPENSSL_CONF)
        yield {"OPENSSL_CONF": str(path)}


@contextlib.contextmanager
def worker_tls_order(extra: Mapping[str, str]) -> Iterator[None]:
    """os.environ with `extra` (from `worker_tls_conf`) while a worker process is spawned
    (it inherits the environment), then as it was: the parent's own `ssl` has long loaded."""
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass(frozen=True, slots=True)
class TlsOptions:
    """TLS as the user asked for it; paths are absolute by the time a plan holds them."""

    insecure: bool = False
    cacert: str | None = None  # PEM bundle of trusted CAs, instead of the default roots
    cert: str | None = None  # client certificate (PEM), may hold its key too
    key: str | None = None  # the client certificate's private key (PEM), unencrypted


class TlsFileError(ValueError):
    """A TLS file that cannot be used; `option` is "cacert", "cert" or "key"."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option
        self.message = message


def check(opts: TlsOptions) -> None:
    """Load every file `opts` names, as a client would; TlsFileError naming the culprit."""
    if opts.key is not None and opts.cert is None:
        raise TlsFileError("key", "a key needs its certificate (cert)")
    texts = {
        name: _read(name, path)
        for name, path in (("cacert", opts.cacert), ("cert", opts.cert), ("key", opts.key))
        if path is not None
    }
    if "cacert" in texts:
        if _CERT_MARK not in texts["cacert"]:
            raise TlsFileError("cacert", f"{opts.cacert}: no PEM certificate in it")
        try:
            ssl.create_default_context(cafile=opts.cacert)
        except ssl.SSLError as exc:
            raise TlsFileError("cacert", f"{opts.cacert}: {_reason(exc)}") from None
    if "cert" in texts:
        _check_pair(opts, texts["cert"], texts.get("key"))


def _check_pair(opts: TlsOptions, cert_text: str, key_text: str | None) -> None:
    if _CERT_MARK not in cert_text:
        raise TlsFileError("cert", f"{opts.cert}: no PEM certificate in it")
    key_name, key_path = ("key", opts.key) if key_text is not None else ("cert", opts.cert)
    own = key_text if key_text is not None else cert_text
    if _KEY_MARK not in own:
        hint = "" if key_text is not None else " (give the key with key / --key)"
        raise TlsFileError(key_name, f"{key_path}: no PEM private key in it{hint}")
    if "ENCRYPTED" in own:
        raise TlsFileError(key_name, f"{key_path}: the key is encrypted; give an unencrypted one")
    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_cert_chain(opts.cert, opts.key, password=_no_password)  # type: ignore[arg-type]
    except (ssl.SSLError, OSError) as exc:
        raise TlsFileError(key_name, f"{key_path}: {_reason(exc)}") from None


def _read(name: str, path: str) -> str:
    p = Path(path)
    if not p.is_file():
        raise TlsFileError(name, f"{path}: no such file")
    try:
        return p.read_text("latin-1")
    except OSError as exc:
        raise TlsFileError(name, f"{path}: cannot read: {exc.strerror or exc}") from None


def _no_password() -> bytes:
    """Never let OpenSSL prompt on the terminal for a key's password (a worker would hang)."""
    return b""


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    if reason == "KEY_VALUES_MISMATCH":
        return "the key does not match the certificate"
    return str(reason or getattr(exc, "strerror", None) or exc).lower().replace("_", " ")


@functools.lru_cache(maxsize=32)
def client_context(
    opts: TlsOptions, roots: str | None = None, alpn: tuple[str, ...] = ()
) -> ssl.SSLContext:
    """A client context for `opts`, shared by a process's connections of those options.

    `roots` is a CA file used when no `cacert` is given (httpx passes certifi's, its own
    default; the wire client uses the system's). `alpn`: the protocols offered, in order
    of preference (the wire client's; httpx sets its own). Raises TlsFileError like `check`.
    """
    cafile = opts.cacert or roots
    try:
        ctx = ssl.create_default_context(cafile=cafile)
    except (ssl.SSLError, OSError):
        check(opts)  # names the culprit
        raise
    if _go_order():
        ctx.set_ciphers(f"{GO_TLS12_ORDER}:{getattr(ssl, '_DEFAULT_CIPHERS', 'DEFAULT')}")
    if opts.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if opts.cert is not None:
        try:
            ctx.load_cert_chain(opts.cert, opts.key, password=_no_password)  # type: ignore[arg-type]
        except (ssl.SSLError, OSError):
            check(opts)
            raise
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx
