"""The Envoy bootstrap Surge expects (and `surge router start envoy` writes).

A pure function of the pools. What it sets up:

- one listener; its route sends `x-surge-color: green` (or blue) to that color's
  cluster (the switch's smoke run, sticky clients), and everything else through
  `weighted_clusters` with `runtime_key_prefix` `surge.weights`: Surge changes the
  weights live with the admin API's `/runtime_modify?surge.weights.green=20&...`;
- the profile's cohort routes as `match` entries after that pin and before the weights
  (`headers` or `query_parameters`, exact or RE2 `safe_regex`, which matches the whole
  value as Python's fullmatch does; a cookie is a regex on the `cookie` header), their
  answers tagged `x-surge-upstream: COLOR+COHORT`; each also matches on a runtime
  fraction (`surge.routes.rN`, 0 at start), which the router sets to 100 to switch
  the route on, as it sets the weights;
- the mirror: `request_mirror_policies` to green on a copy of the weighted route that
  matches the mirrored methods only (`:method`), for the runtime fraction
  `surge.mirror` percent of them (0 at start). Envoy drops the shadow's answers;
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
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.deploy.routers.pools import Instance
from engine.deploy.strategies.traffic import IDEMPOTENT, Route, RouteKind

__all__ = [
    "MIRROR_KEY",
    "ROUTES_PREFIX",
    "RUNTIME_PREFIX",
    "EnvoySetup",
    "endpoints_json",
    "render_bootstrap",
]

RUNTIME_PREFIX = "surge.weights"
ROUTES_PREFIX = "surge.routes"  # surge.routes.r0 = 100: the first cohort route is on
MIRROR_KEY = "surge.mirror"  # the percent of the mirrored methods' requests copied
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
    routes: tuple[Route, ...] = ()  # the profile's cohort routes, all off at start
    mirror_methods: tuple[str, ...] = IDEMPOTENT

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


def _string_match(route: Route) -> dict[str, Any]:
    if route.regex is not None:
        return {"safe_regex": {"regex": route.regex}}
    return {"exact": route.value}


def _route_match(route: Route, key: str) -> dict[str, Any]:
    """The `match` of a cohort route, on only while the runtime key says 100."""
    match: dict[str, Any] = {
        "prefix": "/",
        "runtime_fraction": _fraction(key),
    }
    if route.kind is RouteKind.QUERY:
        match["query_parameters"] = [{"name": route.name, "string_match": _string_match(route)}]
    elif route.kind is RouteKind.HEADER:
        match["headers"] = [{"name": route.name.lower(), "string_match": _string_match(route)}]
    else:  # NAME=VALUE between the cookie header's `;`s
        value = route.regex if route.regex is not None else re.escape(str(route.value))
        cookie = rf"(?:.*;\s*)?{re.escape(route.name)}=(?:{value})(?:;.*)?"
        match["headers"] = [{"name": "cookie", "string_match": {"safe_regex": {"regex": cookie}}}]
    return match


def _fraction(key: str) -> dict[str, Any]:
    return {"default_value": {"numerator": 0, "denominator": "HUNDRED"}, "runtime_key": key}


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
    routes += [
        {
            "match": _route_match(r, f"{ROUTES_PREFIX}.r{i}"),
            "route": {"cluster": r.color, "timeout": timeout},
            "response_headers_to_add": _color_headers(f"{r.color}+{r.cohort}"),
        }
        for i, r in enumerate(setup.routes)
    ]
    weighted = {
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
    }
    methods = "|".join(re.escape(m) for m in setup.mirror_methods)
    routes += [
        {
            "match": {
                "prefix": "/",
                "headers": [
                    {"name": ":method", "string_match": {"safe_regex": {"regex": methods}}}
                ],
            },
            "route": {
                **weighted,
                "request_mirror_policies": [
                    {"cluster": "green", "runtime_fraction": _fraction(MIRROR_KEY)}
                ],
            },
        },
        {"match": {"prefix": "/"}, "route": weighted},
    ]
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
