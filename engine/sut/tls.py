"""HTTPS for the demo SUT: a server context from a PEM certificate chain and key."""

from __future__ import annotations

import ssl

__all__ = ["server_context"]


def server_context(cert: str, key: str | None) -> ssl.SSLContext:
    """A server-side context with the standard library's defaults (TLS 1.2+)."""
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    return tls
