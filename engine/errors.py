"""Errors a user can cause, each carrying what is needed to name the culprit."""

from __future__ import annotations


class ConfigError(ValueError):
    """A bad option value; `key` is the option's name as the user wrote it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


# Named error kinds, counted, never shown as tracebacks (a SUT failure is data).
REFUSED = "connection refused"
RESET = "connection reset"
TIMEOUT = "timeout"
DNS = "dns"
TLS = "tls"
PROTOCOL = "protocol"
NETWORK = "network"


def classify(exc: BaseException) -> str:
    """The error kind of a transport failure, as users name it."""
    import socket
    import ssl

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
