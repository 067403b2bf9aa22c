"""`surge sut`: the embedded demo system under test, from the command line.

Flag values stay strings until `config_from_args`, so a bad one is named by its flag
("--error-rate: ..."), one line, exit 2.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from engine.durations import parse_duration
from engine.sut import ENDPOINTS, EndpointOverride, Latency, SutConfig
from engine.sut.config import check_rate, parse_stall
from tui.cli.argtypes import WithDefaults
from tui.cli.servers import serve_from_args, standalone

__all__ = ["add_arguments", "cmd_sut", "config_from_args", "register"]

T = TypeVar("T")


def register(sub: Any) -> None:
    """Add `sut` to `surge`'s subparsers."""
    p = sub.add_parser(
        "sut",
        help="serve the embedded demo system under test",
        description="The demo server: /, /health, /echo, /status/CODE, /delay/MS and a small "
        "JSON API, with latency, errors and stalls injected on demand.",
        epilog="example: surge sut --port 8081 --color green --latency 40ms --error-rate 0.1",
        formatter_class=WithDefaults,
    )
    add_arguments(p)
    p.set_defaults(func=cmd_sut)


def cmd_sut(args: argparse.Namespace) -> int:
    from engine.sut import serve_forever

    return serve_from_args(args, config_from_args, serve_forever)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `surge sut`; values stay strings so config_from_args can explain errors."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback only)")
    parser.add_argument("--port", default="8080", help="port to bind; 0 picks a free port")
    parser.add_argument("--color", default=None, help="sets header x-surge-upstream: COLOR")
    parser.add_argument(
        "--latency", default="0", help="delay added to every response: 20ms or 10ms-30ms"
    )
    parser.add_argument(
        "--error-rate", default="0", help="fraction 0..1 of requests answered 500 (exact)"
    )
    parser.add_argument(
        "--stall", default=None, help="FREEZE/PERIOD, e.g. 0.5s/2s: freeze at each period start"
    )
    parser.add_argument(
        "--endpoint-latency",
        action="append",
        default=[],
        metavar="NAME=DUR",
        help=f"per-endpoint latency (repeatable); NAME in {', '.join(ENDPOINTS)}",
    )
    parser.add_argument(
        "--endpoint-errors",
        action="append",
        default=[],
        metavar="NAME=RATE",
        help="per-endpoint error rate 0..1 (repeatable)",
    )
    parser.add_argument(
        "--capacity",
        default=None,
        metavar="N",
        help="serve at most N requests/s, queueing the rest (latency climbs past N)",
    )
    parser.add_argument("--job-duration", default="2s", help="how long a demo job runs")
    parser.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate chain")
    parser.add_argument("--tls-key", help="the private key of --tls-cert (PEM)")
    parser.add_argument(
        "--allow-remote", action="store_true", help="allow binding a non-loopback address"
    )


def _pairs(items: list[str] | None, flag: str) -> Iterator[tuple[str, str]]:
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ValueError(f"{flag}: expected NAME=VALUE, got {item!r}")
        name = name.strip()
        if name not in ENDPOINTS:
            raise ValueError(f"{flag}: unknown endpoint {name!r} (one of {', '.join(ENDPOINTS)})")
        yield name, value.strip()


def _named(flag: str, parse: Callable[[Any], T], value: object) -> T:
    """`parse(value)`; its ValueError says the flag (and the endpoint) first."""
    try:
        return parse(value)
    except ValueError as exc:
        raise ValueError(f"{flag}: {exc}") from None


def _error_rate(value: float | str) -> float:
    return check_rate(value, "error rate")


def _capacity(value: str) -> float:
    try:
        rate = float(value)
    except ValueError:
        raise ValueError(f"not a number of requests/s: {value!r}") from None
    if not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"must be a positive number of requests/s, got {value!r}")
    return rate


def config_from_args(args: argparse.Namespace) -> SutConfig:
    """Turn parsed flags into a SutConfig; every bad value is a ValueError naming its flag."""
    try:
        port = int(str(args.port))
    except ValueError:
        raise ValueError(f"--port: not an integer: {args.port!r}") from None
    latency = _named("--latency", Latency.parse, "0" if args.latency is None else args.latency)
    rate = _named("--error-rate", _error_rate, 0 if args.error_rate is None else args.error_rate)
    stall = _named("--stall", parse_stall, args.stall) if args.stall else None
    lat_ov = {
        name: _named(f"--endpoint-latency {name}", Latency.parse, value)
        for name, value in _pairs(args.endpoint_latency, "--endpoint-latency")
    }
    err_ov = {
        name: _named(f"--endpoint-errors {name}", _error_rate, value)
        for name, value in _pairs(args.endpoint_errors, "--endpoint-errors")
    }
    endpoints = {
        name: EndpointOverride(lat_ov.get(name), err_ov.get(name))
        for name in sorted(set(lat_ov) | set(err_ov))
    }
    capacity = getattr(args, "capacity", None)
    capacity = _named("--capacity", _capacity, capacity) if capacity is not None else None
    job = 2.0 if args.job_duration is None else args.job_duration
    job_duration = _named("--job-duration", parse_duration, job)
    # What is left to check (host, port range, color) SutConfig explains by itself.
    return SutConfig(
        host=args.host,
        port=port,
        color=args.color or None,
        latency=latency,
        error_rate=rate,
        stall=stall,
        endpoints=endpoints,
        job_duration=job_duration,
        allow_remote=bool(getattr(args, "allow_remote", False)),
        tls_cert=getattr(args, "tls_cert", None),
        tls_key=getattr(args, "tls_key", None),
        capacity=capacity,
    )


if __name__ == "__main__":  # python -m tui.cli.sut_cmd: how Surge spawns its demo servers
    sys.exit(standalone("surge sut", add_arguments)(cmd_sut))
