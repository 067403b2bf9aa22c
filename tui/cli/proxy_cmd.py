"""`surge proxy` (the blue/green traffic proxy) and `surge weights` (its shell control).

`surge weights` talks to the admin API with the standard library rather than httpx:
it is one request, and a shell command should start fast. Proxy environment
variables are ignored on purpose: the admin address is loopback, and an
`http_proxy` set for the outside world must not capture it.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from typing import Any

from engine.exit_codes import EXIT_BAD_INPUT, EXIT_ERROR, EXIT_OK
from engine.proxy import server as proxy


def register(sub: Any) -> None:
    """Add `proxy` and `weights` to `surge`'s subparsers."""
    p = sub.add_parser(
        "proxy",
        help="route traffic between blue and green by weight, with an admin API",
        description=(
            "An HTTP/1.1 reverse proxy that routes each request to blue or green by "
            "weight (exact shares), tags every response with x-surge-upstream, and "
            "exposes GET/PUT /weights, GET/PUT /instances and GET /stats on --admin."
        ),
    )
    proxy.add_arguments(p)
    p.set_defaults(func=cmd_proxy)

    w = sub.add_parser(
        "weights",
        help="show or set a running proxy's blue:green weights",
        description="With B:G, set the weights (e.g. 90:10); without, print them.",
    )
    w.add_argument("weights", nargs="?", metavar="B:G", help="e.g. 90:10; omit to read")
    w.add_argument("--admin", default="127.0.0.1:8001", metavar="ADDR", help="the proxy's admin")
    w.add_argument("--timeout", type=float, default=5.0, help=argparse.SUPPRESS)
    w.set_defaults(func=cmd_weights)


def cmd_proxy(args: argparse.Namespace) -> int:
    cfg = proxy.config_from_args(args)  # a ConfigError is exit 2, via tui.cli.main.main
    return proxy.serve_forever(cfg)


def cmd_weights(args: argparse.Namespace) -> int:
    host, port = proxy.parse_addr(args.admin, "--admin")
    url = f"{proxy.url_of(host, port)}/weights"
    body = None
    if args.weights is not None:
        weights = proxy.parse_weights(args.weights, "weights")
        body = json.dumps(weights.as_dict()).encode()
    status, payload = admin_request(url, body, timeout=args.timeout)
    if status is None:
        print(f"surge: error: cannot reach the proxy admin at {url}: {payload}", file=sys.stderr)
        return EXIT_ERROR
    if status != 200:
        message = payload.get("error") if isinstance(payload, dict) else payload
        print(f"surge: error: the proxy refused: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT if status == 400 else EXIT_ERROR
    print(json.dumps(payload), flush=True)
    return EXIT_OK


def admin_request(url: str, body: bytes | None, *, timeout: float) -> tuple[int | None, Any]:
    """(status, decoded JSON), or (None, reason) when nothing answered."""
    req = urllib.request.Request(
        url,
        data=body,
        method="PUT" if body is not None else "GET",
        headers={"content-type": "application/json"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"null")
        except ValueError:
            return exc.code, exc.reason
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, str(reason)


__all__ = ["admin_request", "cmd_proxy", "cmd_weights", "register"]
