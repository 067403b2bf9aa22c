"""`surge sut`: the embedded demo system under test (a fast, scriptable HTTP server).

The public face: build a `SutConfig`, then `async with SutServer(cfg) as srv:` in
process, or `serve_forever(cfg)` as a process of its own (`surge sut`).
"""

from engine.sut.config import ENDPOINTS, EndpointOverride, Latency, SutConfig
from engine.sut.server import SutServer, serve_forever
from engine.sut.state import BoundedDict

__all__ = [
    "ENDPOINTS",
    "BoundedDict",
    "EndpointOverride",
    "Latency",
    "SutConfig",
    "SutServer",
    "serve_forever",
]
