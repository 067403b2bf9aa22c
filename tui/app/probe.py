"""Does the target answer? A TCP connect before a run starts, and what to say when it does not.

The `demo` profile's target exists only while `surge demo` runs; started without it
the console once sent 212,988 refused requests in 5 s. A connect with a short
timeout is enough to know: the picker runs it in a worker before it hands a plan to
the run screen, and says what to start instead of starting. The deploy panel gets
the same test against its proxy's admin API: without one it would say "ready"
with nothing behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from engine.profile import Profile
from profiles import SHIPPED

PROBE_TIMEOUT_S = 1.0
DEMO_PROFILE = SHIPPED / "demo.toml"

# host, port -> None when something accepts, else the reason (refused, timed out, ...)
Probe = Callable[[str, int], Awaitable[str | None]]


def address(url: str) -> tuple[str, int]:
    """host and port of a base URL, with the scheme's default port."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.hostname or "127.0.0.1", port


async def tcp_probe(host: str, port: int, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Connect and close: None when something listens, else why not, in a few words."""
    return await _connect(asyncio.open_connection(host, port), timeout)


async def unix_probe(path: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """The same for a Unix socket (HAProxy's runtime API, Envoy's admin)."""
    return await _connect(asyncio.open_unix_connection(path), timeout)


async def _connect(
    opening: Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]], timeout: float
) -> str | None:
    try:
        _, writer = await asyncio.wait_for(opening, timeout)
    except TimeoutError:
        return f"no answer within {timeout:g}s"
    except ConnectionRefusedError:
        return "connection refused"
    except OSError as exc:
        return exc.strerror or str(exc)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return None


def is_demo(profile: Profile, path: Path | None) -> bool:
    """The shipped demo profile, whose target only `surge demo` starts."""
    if path is not None:
        with contextlib.suppress(OSError):
            return path.resolve() == DEMO_PROFILE.resolve()
    return False


@dataclass(frozen=True)
class Reachability:
    """What the probe found: `problem` refuses the run; `deploy` says whether a panel fits."""

    problem: str | None = None
    deploy: bool = True
    deploy_note: str | None = None


async def check_target(
    profile: Profile, path: Path | None, probe: Probe = tcp_probe, admin_url: str | None = None
) -> Reachability:
    """The run's target, then (for a profile with a [deploy] table) its proxy's admin API:
    `admin_url` when the caller knows the one the run will use (`surge demo` starts its
    proxy on a free port), else the profile's `admin_port`."""
    host, port = address(profile.base_url)
    why = await probe(host, port)
    if why is not None:
        if is_demo(profile, path):
            hint = "its servers run only with the demo: run `surge demo` instead"
        else:
            hint = f"nothing listens on {host}:{port}: start the system under test first"
        return Reachability(problem=f"{profile.base_url}: {why}; {hint}")
    plan = profile.deploy
    if plan is None:
        return Reachability()
    admin = admin_url or f"http://127.0.0.1:{plan.admin_port}"
    if admin.startswith("unix:"):
        where = admin.removeprefix("unix:")
        why = await unix_probe(where)
    else:
        admin_host, admin_port = address(admin)
        where = f"{admin_host}:{admin_port}"
        why = await probe(admin_host, admin_port)
    if why is None:
        return Reachability()
    note = f"no proxy admin API on {where} ({why}): the run goes without the deploy panel"
    return Reachability(deploy=False, deploy_note=note)
