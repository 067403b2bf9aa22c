"""The documented range of every number a user gives (README, "Limits").

Checked before anything starts, so a typo (`--vus 1000000000`, `rate = nan`) is one
line and exit 2, never a run that eats the machine or runs "for nan seconds".
The bounds are far above what one machine drives (a 2-core host does ~100k req/s)
and low enough that a plan within them starts at once.
"""

from __future__ import annotations

import math

MAX_VUS = 100_000  # VUs, preAllocatedVUs, maxVUs, a stage's VU target
MAX_RATE = 10_000_000.0  # iterations per timeUnit (startRate, rate, a stage's rate)
MAX_ITERATIONS = 1_000_000_000_000
MAX_DURATION_S = 31 * 86_400.0  # 31 days: any duration, stage or timeout
MAX_TIME_SCALE = 1_000.0
MAX_WORKERS = 256  # worker processes (or actors) of one run


def check_count(value: int, limit: int) -> str | None:
    """Why an integer is out of range, or None."""
    if value > limit:
        return f"at most {limit:,}, got {value:,}"
    return None


def check_number(value: float, limit: float) -> str | None:
    """Why a number is out of range (not finite, negative, above limit), or None."""
    if not math.isfinite(value):
        return f"must be a finite number, got {value}"
    if value < 0:
        return f"must not be negative, got {value:g}"
    if value > limit:
        return f"at most {_show(limit)}, got {_show(value)}"
    return None


def _show(value: float) -> str:
    return f"{value:,.0f}" if value.is_integer() and value < 1e15 else f"{value:g}"


FD_MARGIN = 64  # files a worker needs besides its VUs' sockets (pipes, logs, /proc)


def fd_limit(*, raise_soft: bool = False) -> int | None:
    """RLIMIT_NOFILE's soft limit (None where there is none); optionally raised to the hard one."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if raise_soft and soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return None if soft == resource.RLIM_INFINITY else soft


def fd_shortfall(connections: int) -> str | None:
    """Why this process cannot hold `connections` sockets, naming the fix, or None.

    Raises the soft file-descriptor limit to the hard one first (as wrk and k6 users
    are told to): a run that would fail every connect with EMFILE is refused before it
    starts, instead of spinning through errors nobody can read.
    """
    soft = fd_limit(raise_soft=True)
    if soft is None or connections + FD_MARGIN <= soft:
        return None
    return (
        f"{connections:,} VUs need as many open connections, but a process may open "
        f"{soft:,} files here: raise `ulimit -n` (the hard limit too), or use fewer VUs "
        "per worker (--workers)"
    )
