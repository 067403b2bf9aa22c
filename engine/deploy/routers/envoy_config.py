"""The Envoy bootstrap Surge expects (and `surge router start envoy` writes).

A pure function of the pools. What it sets up:

- one listener; its route sends `x-surge-color: green` (or blue) to that color's
  cluster (the switch's smoke run, sticky clients), and everything else through
  `weighted_clusters` with `runtime_key_prefix` `surge.weights`: Surge changes the
  weights live with the admin API's `/runtime_modify?surge.weights.green=20&...`;
- `x-surge-upstream: COLOR` added to every answer of a color's cluster
  (`response_headers_to_add`), and `x-surge-instance` naming the endpoint;
- blue and green as EDS clusters read from JSON files in a watched folder: the
  endpoint files Surge rewrites (atomically) when discovery finds instances;
- the admin API on a Unix socket with mode 0600 (`admin.address.pipe`): only the
  user, and no TCP port at all;
- a runtime admin layer (`layered_runtime`), which `/runtime_modify` needs.

Envoy picks each request's cluster at random by weight: shares hold within a few
points over a thousand requests, not exactly as with HAProxy's round robin.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.deploy.routers.pools import Instance

__all__ = ["RUNTIME_PREFIX", "EnvoySetup", "endpoints_json", "render_bootstrap"]

RUNTIME_PREFIX = "surge.weights"
ROUTER_FILTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"


@dataclass(frozen=True)
class EnvoySetup:
    listen_host: str
    listen_port: int
    admin_socket: str
    folder: str  # where the bootstrap and the watched endpoint files live
    pools: Mapping[str, Sequence[Instance]]
    weights: Mapping[str, int]  # initial weight per color
    timeout_s: float = 30.0

    def endpoints_path(self, color: str) -> Path:
        return Path(self.folder) / "endpoints" / f"{color}.json"


def endpoints_json(color: str, pool: Sequence[Instance]) -> str:
    """An EDS response (ClusterLoadAssignment) for one color, as Envoy reads from a file."""
    assignment = {
        "@type": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
        "cluster_name": color,
        "endpoints": [
            {
                "lb_endpoints": [
                    {
                        "endpoint": {
                            "hostname": inst.name,
                            "address": {
                                "socket_address": {"address": inst.host, "port_value": inst.port}
                            },
                        }
                    }
                    for inst in pool
                ]
            }
        ],
    }
    doc = {
        "version_info": "surge",
        "resources": [assignment],
    }
    return json.dumps(doc, indent=1)


def _header(key: str, value: str) -> dict[str, Any]:
    return {"header": {"key": key, "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}


def _color_headers(color: str) -> list[dict[str, Any]]:
    return [_header("x-surge-upstream", color), _header("x-surge-instance", "%UPSTREAM_HOST%")]


def render_bootstrap(setup: EnvoySetup) -> str:
    timeout = f"{setup.timeout_s:g}s"
    colors = list(setup.pools)
    routes: list[dict[str, Any]] = [
        {
            "match": {
                "prefix": "/",
                "headers": [{"name": "x-surge-color", "string_match": {"exact": color}}],
            },
            "route": {"cluster": color, "timeout": timeout},
            "response_headers_to_add": _color_headers(color),
        }
        for color in colors
    ]
    routes.append(
        {
            "match": {"prefix": "/"},
            "route": {
                "timeout": timeout,
                "weighted_clusters": {
                    "runtime_key_prefix": RUNTIME_PREFIX,
                    "clusters": [
                        {
                            "name": color,
                            "weight": setup.weights.get(color, 0),
                            "response_headers_to_add": _color_headers(color),
                        }
                        for color in colors
                    ],
                },
            },
        }
    )
    manager = {
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network."
            "http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": "surge",
            "route_config": {
                "name": "surge",
                "virtual_hosts": [{"name": "surge", "domains": ["*"], "routes": routes}],
            },
            "http_filters": [
                {
                    "name": "envoy.filters.http.router",
                    "typed_config": {"@type": ROUTER_FILTER},
                }
            ],
        },
    }
    clusters = [
        {
            "name": color,
            "type": "EDS",
            "connect_timeout": "2s",
            "lb_policy": "ROUND_ROBIN",
            "eds_cluster_config": {
                "eds_config": {
                    "resource_api_version": "V3",
                    "path_config_source": {
                        "path": str(setup.endpoints_path(color)),
                        "watched_directory": {"path": str(setup.endpoints_path(color).parent)},
                    },
                }
            },
        }
        for color in colors
    ]
    bootstrap = {
        "node": {"id": "surge", "cluster": "surge"},  # file-based EDS needs both
        "admin": {"address": {"pipe": {"path": setup.admin_socket, "mode": 0o600}}},
        "layered_runtime": {
            "layers": [
                {"name": "static", "static_layer": {}},
                {"name": "admin", "admin_layer": {}},
            ]
        },
        "static_resources": {
            "listeners": [
                {
                    "name": "surge_in",
                    "address": {
                        "socket_address": {
                            "address": setup.listen_host,
                            "port_value": setup.listen_port,
                        }
                    },
                    "filter_chains": [{"filters": [manager]}],
                }
            ],
            "clusters": clusters,
        },
    }
    return json.dumps(bootstrap, indent=1) + "\n"
