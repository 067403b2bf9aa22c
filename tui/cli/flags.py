"""The flags `surge run` and the app (`surge [PROFILE]`) share, defined once.

Same names, types, checks and help in both, so a flag that works on one works on
the other; each command adds only its own flags around these.
"""

from __future__ import annotations

import argparse
from typing import Any

from engine.http.body import parse_size
from engine.http.redirects import MAX_REDIRECTS
from engine.load.testtypes import ALIASES, TEST_TYPES
from engine.observe.config import target_url
from engine.profile import http_fields
from engine.profile.fields import Invalid
from engine.profile.scenarios import ENV_NAME
from tui.cli.argtypes import duration, positive, positive_int, time_scale, workers


def add_profile_flags(
    p: argparse.ArgumentParser, *, type_help: str, variables: bool = False
) -> None:
    """--type, --env, --base-url: which shape, which environment, which target.

    `variables`: also k6's -e/--env-var NAME=V and --tag NAME=V (`--env NAME=V`, k6's
    long form of -e, holds a `=` no environment name has: read as -e)."""
    p.add_argument("--type", dest="test_type", choices=[*TEST_TYPES, *ALIASES], help=type_help)
    if not variables:
        p.add_argument("--env", help="the profile environment to use ([environments.NAME])")
    else:
        p.add_argument(
            "--env",
            action=_EnvOrVariable,
            help="the profile environment to use ([environments.NAME]); NAME=VALUE is -e",
        )
        p.add_argument(
            "-e",
            "--env-var",
            dest="env_vars",
            action="append",
            default=[],
            type=env_var,
            metavar="NAME=VALUE",
            help="repeatable: ${env.NAME} in the profile (over the process environment)",
        )
        p.add_argument(
            "--tag",
            dest="tags",
            action="append",
            default=[],
            type=run_tag,
            metavar="NAME=VALUE",
            help="repeatable: a tag on every metric of the run (thresholds may name it)",
        )
    p.add_argument("--base-url", help="override the profile's base URL")


def env_var(text: str) -> tuple[str, str]:
    """argparse type for -e NAME=VALUE (k6's names: a letter or _, then letters, digits, _)."""
    name, sep, value = text.partition("=")
    if not sep or not ENV_NAME.fullmatch(name):
        raise argparse.ArgumentTypeError(
            f"expected NAME=VALUE (NAME: letters, digits, _), got {text!r}"
        )
    return name, value


def observe_url(text: str) -> str:
    """argparse type for --observe URL: http(s), `/metrics` when no path is given."""
    try:
        return target_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run_tag(text: str) -> tuple[str, str]:
    """argparse type for --tag NAME=VALUE: both parts given, and not a tag Surge sets itself."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        (tag,) = http_fields.tags({name: value}, ("--tag",))  # a profile's rules
    except Invalid as exc:
        raise argparse.ArgumentTypeError(exc.message) from None
    return tag


class _EnvOrVariable(argparse.Action):
    """`--env NAME` picks an environment; `--env NAME=VALUE` is k6's long -e."""

    def __call__(
        self, parser: argparse.ArgumentParser, ns: argparse.Namespace, value: Any, _: Any = None
    ) -> None:
        if "=" not in value:
            ns.env = value
            return
        try:
            pair = env_var(value)
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentError(self, str(exc)) from None
        ns.env_vars = [*(getattr(ns, "env_vars", None) or []), pair]


# Overrides fields too; --max-redirects (add_redirect_flag) travels with them to both commands.
LOAD_FLAGS = ("vus", "rate", "duration", "time_scale", "workers", "cluster", "queue")
LOAD_FLAGS += ("max_redirects", "observe")


def add_load_flags(group: Any) -> None:
    """--vus, --rate, --duration, --time-scale, --workers, --queue, on a parser or a group."""
    group.add_argument(
        "-u", "--vus", type=positive_int, help="virtual users (preAllocatedVUs if open); default 10"
    )
    group.add_argument("--rate", type=positive, help="iterations per second (open model)")
    group.add_argument(
        "--observe",
        action="append",
        default=[],
        type=observe_url,
        metavar="URL",
        help="repeatable: a Prometheus /metrics endpoint scraped every interval ([observe])",
    )
    group.add_argument("-d", "--duration", type=duration, help="e.g. 30s, 1m30s; default 10s")
    group.add_argument(
        "--time-scale", type=time_scale, help="multiply test-type shape durations (0..1000]"
    )
    group.add_argument(
        "--workers",
        type=workers,
        help="engine processes (default: one per core, less one for a target on this machine)",
    )
    group.add_argument(
        "--cluster",
        metavar="ray://HOST:PORT|auto",
        type=_cluster,
        help="the workers as Ray actors on a cluster (auto: a local Ray, started and stopped "
        "here); --workers of them, or one per CPU the cluster offers. Needs surge[ray]",
    )
    group.add_argument(
        "--queue",
        action="store_true",
        default=None,
        help="arrival rate: a due iteration with no free VU waits for one (its wait counted "
        "in latency) instead of being dropped as k6 drops it",
    )


def _cluster(text: str) -> str:
    """argparse type for --cluster: `auto` or a Ray address (`ray://HOST:PORT`)."""
    if text == "auto" or text.startswith("ray://"):
        return text
    raise argparse.ArgumentTypeError(f"expected ray://HOST:PORT or auto, got {text!r}")


def _size(text: str) -> int:
    """argparse type for --max-body: "1MiB", "512KiB" or bytes."""
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _redirects(text: str) -> int:
    """argparse type for --max-redirects: 0..MAX_REDIRECTS."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= value <= MAX_REDIRECTS:
        raise argparse.ArgumentTypeError(f"expected 0..{MAX_REDIRECTS}, got {value}")
    return value


def add_redirect_flag(p: Any) -> None:
    """--max-redirects N (k6's flag and maxRedirects option): Overrides.max_redirects."""
    p.add_argument(
        "--max-redirects",
        type=_redirects,
        metavar="N",
        help="redirects followed per request (default: the profile's, or 10 as k6; 0: none)",
    )


def load_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The values of the `add_load_flags` flags, under their `Overrides` field names."""
    return {name: getattr(args, name) for name in LOAD_FLAGS}


def add_http_flags(p: Any) -> None:
    """--max-body, --timeout: bounds on each response (Overrides.max_body, .timeout);
    --max-redirects; --http2 / --http1 (Overrides.http2); --http-debug[=full]."""
    add_redirect_flag(p)
    # Two exact spellings, never an optional value: a URL after the flag stays the URL.
    p.add_argument(
        "--http-debug",
        dest="http_debug",
        action="store_const",
        const="headers",
        default=None,
        help="print each request and response of each flow's first iteration on stderr "
        "(heads; --http-debug=full adds bodies, cut at 2 KB); Authorization is masked",
    )
    p.add_argument("--http-debug=full", dest="http_debug", action="store_const", const="full",
                   help=argparse.SUPPRESS)  # fmt: skip
    versions = p.add_mutually_exclusive_group()
    versions.add_argument(
        "--http2",
        dest="http2",
        action="store_const",
        const=True,
        default=None,
        help="require HTTP/2 (https: a server whose ALPN does not pick h2 is an error per "
        "request; http://: h2c with prior knowledge). Default: HTTP/2 where TLS agrees on it",
    )
    versions.add_argument(
        "--http1",
        dest="http2",
        action="store_const",
        const=False,
        help="HTTP/1.1 only (TLS offers no h2)",
    )
    p.add_argument(
        "--max-body",
        type=_size,
        metavar="SIZE",
        help="body bytes kept for checks, after decoding (default 1MiB); the rest is dropped",
    )
    p.add_argument(
        "--timeout",
        type=duration,
        help="each request's deadline, body included (default: the profile's, or 10s)",
    )


def add_tls_flags(p: Any) -> None:
    """--insecure (k6: --insecure-skip-tls-verify), --cacert, --cert, --key, in both clients
    (Overrides.insecure, .cacert, .cert, .key); the files are checked before the run."""
    p.add_argument(
        "--insecure",
        "--insecure-skip-tls-verify",
        dest="insecure",
        action="store_true",
        default=None,
        help="do not verify the server's TLS certificate",
    )
    p.add_argument(
        "--cacert", metavar="FILE", help="trust the CAs in this PEM file instead of the system's"
    )
    p.add_argument("--cert", metavar="FILE", help="client certificate (PEM) for mutual TLS")
    p.add_argument("--key", metavar="FILE", help="the client certificate's key (PEM)")
