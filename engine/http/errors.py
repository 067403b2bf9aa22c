"""The errors an HTTP connection raises, whichever protocol it speaks; each names its
kind (engine/errors.py `classify` reads `kind`), so a failure is counted, not shown."""

from __future__ import annotations


class ProtocolError(Exception):
    """The server spoke something that is not the HTTP the connection agreed on."""

    kind = "protocol"


class ConnectionClosed(ConnectionResetError):
    """The server closed the connection before the response was complete."""


class StreamReset(ConnectionResetError):
    """The server reset the request's HTTP/2 stream (RST_STREAM) before it ended."""


class NoHttp2(Exception):
    """HTTP/2 was required (`--http2`) and the TLS handshake agreed on another protocol."""

    kind = "no HTTP/2 (the server's ALPN chose another protocol)"
