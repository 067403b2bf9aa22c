"""The load balancers a rollout steers, one type each behind `Router`.

Strategies decide weights; a router applies them. Surge's own proxy (admin API over
HTTP), HAProxy (runtime API on its stats socket) and Envoy (admin API's
`/runtime_modify` on a Unix socket) are three implementations of one small interface:
set weights, add, drain and remove instances, read per-color figures. Nothing else in
Surge branches on which one it is.
"""

from __future__ import annotations

from engine.deploy.routers.base import (
    ColorStats,
    InstanceCounts,
    Router,
    RouterError,
    RouterStats,
)
from engine.deploy.routers.surge import SurgeProxyRouter

__all__ = [
    "ColorStats",
    "InstanceCounts",
    "Router",
    "RouterError",
    "RouterStats",
    "SurgeProxyRouter",
]
