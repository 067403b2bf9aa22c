"""Network addresses as users type them: loopback checks, HOST:PORT and http origins.

One home, because the proxy, the demo SUT, the `[deploy]` table and the run planner
all ask the same questions of an address, and two spellings of "is this loopback"
would drift (one accepting `::1`, the other not).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from engine.errors import ConfigError

__all__ = ["is_loopback", "is_url", "parse_host_port", "parse_http_origin", "url_of"]


def is_url(target: str) -> bool:
    """`surge URL` and `surge run URL`: an ad-hoc test of one endpoint, not a profile file.

    One test for the console and the headless run, so both read a target alike; the
    scheme is case-insensitive (RFC 3986), `HTTP://...` is a URL too.
    """
    return target[:8].lower().startswith(("http://", "https://"))


def is_loopback(host: str) -> bool:
    """`localhost` or a loopback IP (127.0.0.0/8, ::1); a name that needs DNS is not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_host_port(text: str, key: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """ "HOST:PORT", ":PORT", "PORT", "[::1]:PORT" or "http://HOST:PORT" -> (host, port).

    A bad value is a ConfigError naming `key`, the option the user wrote it in.
    """
    raw = text.strip()
    if is_url(raw):
        raw = urlsplit(raw).netloc
    host, sep, port_s = raw.rpartition(":")
    if not sep:
        host, port_s = "", raw
    host = host.strip("[]") or default_host
    try:
        port = int(port_s)
    except ValueError:
        raise ConfigError(key, f"expected HOST:PORT, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise ConfigError(key, f"port must be 0..65535, got {port}")
    return host, port


def parse_http_origin(url: str, key: str) -> tuple[str, int]:
    """An upstream URL, `http://HOST[:PORT]` with no path or query -> (host, port).

    Upstreams are origins: the proxy forwards the client's own path, so a path here
    would be silently ignored. https is refused until the proxy speaks TLS upstream.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(key, f"bad URL {url!r}: {exc}") from None
    if parts.scheme != "http" or not parts.hostname:
        raise ConfigError(key, f"expected http://HOST:PORT (https upstreams: not yet), got {url!r}")
    if parts.path not in ("", "/") or parts.query:
        raise ConfigError(key, f"an upstream is an origin, without path or query: {url!r}")
    return parts.hostname, port or 80


def url_of(host: str, port: int, scheme: str = "http") -> str:
    """The base URL of a bound address; IPv6 hosts get their brackets."""
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"
