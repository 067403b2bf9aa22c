"""`surge proxy` (the blue/green traffic proxy) and `surge weights` (its shell control).

`surge weights` talks to the admin API with the standard library rather than httpx:
it is one request, and a shell command should start fast. Proxy environment
variables are ignored on purpose: the admin address is loopback, and an
`http_proxy` set for the outside world must not capture it.

The admin token comes from `--admin-token` or SURGE_ADMIN_TOKEN (the environment is
the better place: a flag shows in `ps`); both commands read the same variable, so one
`export` configures the proxy, `surge weights` and the deploy driver alike.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any

from engine.addresses import parse_host_port, url_of
from engine.deploy.strategies.traffic import IDEMPOTENT, Mirror, Route, parse_route
from engine.durations import parse_duration
from engine.errors import ConfigError
from engine.exit_codes import EXIT_BAD_INPUT, EXIT_ERROR, EXIT_OK
from engine.proxy import ProxyConfig, parse_weights, serve_forever
from tui.cli.argtypes import WithDefaults, said
from tui.cli.servers import serve_from_args, standalone

TOKEN_ENV = "SURGE_ADMIN_TOKEN"
TOKEN_HELP = f"admin API bearer token (default: ${TOKEN_ENV})"


def admin_token(args: argparse.Namespace) -> str | None:
    """The flag, else the environment variable; an empty value means none."""
    token = args.admin_token if args.admin_token is not None else os.environ.get(TOKEN_ENV)
    return token or None


def register(sub: Any) -> None:
    """Add `proxy` and `weights` to `surge`'s subparsers."""
    p = sub.add_parser(
        "proxy",
        help="route traffic between blue and green by weight, with an admin API",
        description=(
            "An HTTP/1.1 reverse proxy that routes each request to blue or green by "
            "weight (exact shares), tags every response with x-surge-upstream, and "
            "exposes GET/PUT /weights, /instances, /routes, /mirror and GET /stats on "
            "--admin. Precedence: the x-surge-color pin, then --route (first match), "
            "then the sticky cookie, then the weights."
        ),
        epilog="example: surge proxy --blue http://127.0.0.1:8081 --green "
        "http://127.0.0.1:8082 --weights 90:10",
        formatter_class=WithDefaults,
    )
    add_arguments(p)
    p.set_defaults(func=cmd_proxy)

    w = sub.add_parser(
        "weights",
        help="show or set a running proxy's blue:green weights",
        description="With B:G, set the weights (e.g. 90:10); without, print them. Either way "
        "it prints what the proxy now has, in words: blue 90% (2 instances), green 10% "
        "(1 instance).",
        epilog="example: surge weights 90:10 --admin 127.0.0.1:8001",
        formatter_class=WithDefaults,
    )
    w.add_argument("weights", nargs="?", metavar="B:G", help="e.g. 90:10; omit to read")
    w.add_argument(
        "--admin",
        default="127.0.0.1:8001",
        metavar="ADDR",
        help="the proxy's admin API",
    )
    w.add_argument(
        "--json", action="store_true", help='the admin API\'s raw answer: {"blue": 90, "green": 10}'
    )
    w.add_argument("--admin-token", metavar="TOKEN", help=TOKEN_HELP)
    w.add_argument("--timeout", type=float, default=5.0, help=argparse.SUPPRESS)
    w.set_defaults(func=cmd_weights)


def cmd_proxy(args: argparse.Namespace) -> int:
    return serve_from_args(args, config_from_args, serve_forever)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `surge proxy`; values stay strings so config_from_args names the bad one."""
    parser.add_argument("--listen", default="127.0.0.1:8000", metavar="ADDR", help="HOST:PORT")
    parser.add_argument("--blue", required=True, metavar="URL[,URL...]", help="blue instances")
    parser.add_argument("--green", required=True, metavar="URL[,URL...]", help="green instances")
    parser.add_argument("--weights", default="100:0", metavar="B:G", help="e.g. 90:10")
    parser.add_argument("--admin", default="127.0.0.1:8001", metavar="ADDR", help="admin API")
    parser.add_argument(
        "--admin-token",
        metavar="TOKEN",
        help=f"{TOKEN_HELP}; required when --admin is not loopback",
    )
    parser.add_argument(
        "--sticky", action="store_true", help="pin each client to a color (surge_color cookie)"
    )
    parser.add_argument(
        "--route",
        action="append",
        default=[],
        metavar="KIND:NAME=VALUE:COLOR",
        help="send a cohort to a color whatever the weights (repeatable; KIND is header, "
        "cookie or query; ~= for a regex), e.g. header:x-beta=1:green",
    )
    parser.add_argument(
        "--mirror",
        choices=["green"],
        help="copy each blue request to green and compare the answers (GET /stats' mirror)",
    )
    parser.add_argument(
        "--mirror-methods",
        default=",".join(IDEMPOTENT),
        metavar="M[,M...]",
        help="the methods --mirror copies (others would duplicate writes)",
    )
    parser.add_argument("--timeout", default="30s", help="upstream response timeout")
    parser.add_argument("--connect-timeout", default="2s", help="upstream connect timeout")
    parser.add_argument(
        "--max-conns", default="256", help="upstream connections per instance at most"
    )
    parser.add_argument(
        "--header-timeout", default="10s", help="a client's whole request head within this"
    )
    parser.add_argument("--idle-timeout", default="60s", help="idle keep-alive clients closed")
    parser.add_argument(
        "--max-clients", default="10000", help="client connections at most (idle ones make room)"
    )
    parser.add_argument(
        "--allow-remote", action="store_true", help="allow non-loopback listen/admin addresses"
    )


def config_from_args(args: argparse.Namespace) -> ProxyConfig:
    """Parsed flags to a ProxyConfig; every bad value is a ConfigError naming its flag."""

    def seconds(flag: str, value: str) -> float:
        try:
            return parse_duration(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(flag, str(exc)) from None

    def integer(flag: str, value: str) -> int:
        try:
            return int(value)
        except ValueError:
            raise ConfigError(flag, f"not an integer: {value!r}") from None

    host, port = parse_host_port(args.listen, "--listen")
    admin_host, admin_port = parse_host_port(args.admin, "--admin")
    return ProxyConfig(
        blue=_split_urls(args.blue),
        green=_split_urls(args.green),
        weights=parse_weights(args.weights),
        host=host,
        port=port,
        admin_host=admin_host,
        admin_port=admin_port,
        sticky=bool(args.sticky),
        allow_remote=bool(args.allow_remote),
        timeout=seconds("--timeout", args.timeout),
        connect_timeout=seconds("--connect-timeout", args.connect_timeout),
        header_timeout=seconds("--header-timeout", args.header_timeout),
        idle_timeout=seconds("--idle-timeout", args.idle_timeout),
        max_conns=integer("--max-conns", args.max_conns),
        max_clients=integer("--max-clients", args.max_clients),
        admin_token=admin_token(args),
        routes=tuple(_route(text) for text in args.route),
        mirror=Mirror(
            100 if args.mirror else 0,
            tuple(m.strip().upper() for m in args.mirror_methods.split(",") if m.strip()),
        ),
    )


def _route(text: str) -> Route:
    try:
        return parse_route(text)
    except ValueError as exc:
        raise ConfigError("--route", str(exc)) from None


def _split_urls(text: str) -> tuple[str, ...]:
    return tuple(u.strip() for u in text.split(",") if u.strip())


def cmd_weights(args: argparse.Namespace) -> int:
    host, port = parse_host_port(args.admin, "--admin")
    base = url_of(host, port)
    url = f"{base}/weights"
    body = None
    if args.weights is not None:
        weights = parse_weights(args.weights, "weights")
        body = json.dumps(weights.as_dict()).encode()
    token = admin_token(args)
    status, payload = admin_request(url, body, timeout=args.timeout, token=token)
    if status is None:
        reach = f"cannot reach the proxy admin at {url}: {payload}"
        print(said(args, "error", reach), file=sys.stderr)
        return EXIT_ERROR
    if status != 200:
        message = payload.get("error") if isinstance(payload, dict) else payload
        print(said(args, "error", f"the proxy refused: {message}"), file=sys.stderr)
        return EXIT_BAD_INPUT if status == 400 else EXIT_ERROR
    if args.json:
        print(json.dumps(payload), flush=True)
        return EXIT_OK
    status, instances = admin_request(f"{base}/instances", None, timeout=args.timeout, token=token)
    words = weights_words(payload, instances if status == 200 else None)
    print(f"{'now ' if body is not None else ''}{words}", flush=True)
    return EXIT_OK


def weights_words(weights: Any, instances: Any) -> str:
    """`blue 90% (2 instances), green 10% (1 instance, 1 unhealthy)`: what the router now
    has, from GET /weights and GET /instances (None: the counts are left out)."""
    parts = []
    for color in ("blue", "green"):
        share = weights.get(color, 0) if isinstance(weights, dict) else 0
        text = f"{color} {share}%"
        if isinstance(instances, list):
            serving = [
                i
                for i in instances
                if isinstance(i, dict) and i.get("color") == color and i.get("in_service")
            ]
            n = len(serving)
            unhealthy = sum(1 for i in serving if not i.get("healthy"))
            text += f" ({n} instance{'' if n == 1 else 's'}"
            text += f", {unhealthy} unhealthy)" if unhealthy else ")"
        parts.append(text)
    return ", ".join(parts)


def admin_request(
    url: str, body: bytes | None, *, timeout: float, token: str | None = None
) -> tuple[int | None, Any]:
    """(status, decoded JSON), or (None, reason) when nothing answered."""
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    req = urllib.request.Request(
        url, data=body, method="PUT" if body is not None else "GET", headers=headers
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


__all__ = [
    "add_arguments",
    "admin_request",
    "admin_token",
    "cmd_proxy",
    "cmd_weights",
    "config_from_args",
    "register",
]


if __name__ == "__main__":  # python -m tui.cli.proxy_cmd: how the demo spawns its proxy
    sys.exit(standalone("surge proxy", add_arguments)(cmd_proxy))
