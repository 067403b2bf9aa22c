"""`surge proxy`: a weighted blue/green HTTP/1.1 proxy with a JSON admin API.

The public face: build a `ProxyConfig`, then `async with Proxy(cfg) as p:` in
process, or `serve_forever(cfg)` as a process of its own (`surge proxy`).
"""

from engine.proxy.config import ProxyConfig, check_weights, parse_weights
from engine.proxy.routing import SmoothWeighted
from engine.proxy.server import Proxy, serve_forever

__all__ = [
    "Proxy",
    "ProxyConfig",
    "SmoothWeighted",
    "check_weights",
    "parse_weights",
    "serve_forever",
]
