"""Errors a user can cause, each carrying what is needed to name the culprit."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ConfigError(ValueError):
    """A bad option value; `key` is the option's name as the user wrote it."""

    def __init__(self, key: str, message: str) -> None:
        shown = key if key.isprintable() else repr(key)[1:-1]  # one line, whatever was typed
        super().__init__(f"{shown}: {message}")
        self.key = key
        self.message = message


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """ " (did you mean 'vus'?)" for the closest of `choices` to a mistyped `word`, or ""."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# Named error kinds, counted, never shown as tracebacks (a SUT failure is data).
REFUSED = "connection refused"
RESET = "connection reset"
TIMEOUT = "timeout"
DNS = "dns"
TLS = "tls"
PROTOCOL = "protocol"
NETWORK = "network"
HEADER_TOO_LARGE = "header too large"
# Limits of the generator's own machine, named with what to do about them.
TOO_MANY_FILES = "too many open files: raise `ulimit -n`"
NO_LOCAL_PORTS = "out of local ports: fewer connections, or widen net.ipv4.ip_local_port_range"


# Kinds counted beside a request that did not fail itself, so http_req_failed leaves them
# out (as k6 would: its status was expected): a poll out of tries, a capture not found, a
# body not kept whole or not decoded; and a request never sent (its values broke framing).
NOT_FAILED_PREFIXES = (
    "until: ",
    "capture ",
    "body over max_body",
    "content-encoding ",
    "bad request: ",
)


def in_http_req_failed(kind: str) -> bool:
    """Whether the requests an error kind names are counted in http_req_failed."""
    return not kind.startswith(NOT_FAILED_PREFIXES)


def classify(exc: BaseException) -> str:
    """The error kind of a transport failure, as users name it.

    An exception type may name its own kind in a `kind` class attribute (the HTTP
    clients' ProtocolError and HeaderTooLarge do), so this module imports none of them.
    """
    import errno
    import socket
    import ssl

    kind = getattr(type(exc), "kind", None)
    if isinstance(kind, str):
        return kind
    code = getattr(exc, "errno", None)
    if code in (errno.EMFILE, errno.ENFILE):
        return TOO_MANY_FILES
    if code == errno.EADDRNOTAVAIL:
        return NO_LOCAL_PORTS
    if isinstance(exc, ConnectionRefusedError):
        return REFUSED
    if isinstance(exc, TimeoutError):
        return TIMEOUT
    if isinstance(exc, socket.gaierror):
        return DNS
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return TLS
    if isinstance(exc, ConnectionError | EOFError):
        return RESET
    if type(exc).__name__ == "ProtocolError":
        return PROTOCOL
    if isinstance(exc, OSError):
        return NETWORK
    return type(exc).__name__
