"""The interface every router implements, and the values it deals in."""

from __future__ import annotations

import asyncio
import subprocess
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from engine.deploy.strategies import InService, Weights
from engine.deploy.strategies.traffic import Mirror, MirrorCounts, Route

__all__ = [
    "ColorStats",
    "InstanceCounts",
    "Router",
    "RouterError",
    "RouterStats",
    "wait_drained",
]

DRAIN_POLL_S = 0.05


class RouterError(RuntimeError):
    """A router refused a command or could not be reached; the driver shows it, in red."""


@dataclass(frozen=True)
class ColorStats:
    """What a router's own counters say of one color (cumulative since it started).

    Routers count responses and errors, and some a mean time; none keeps a histogram
    Surge can read, so percentiles per color come from Surge's own load (the
    `x-surge-upstream` header), and these serve where load does not pass through Surge.
    """

    requests: int = 0
    errors: int = 0  # 5xx answers, including the ones the router made itself
    mean_ms: float | None = None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class InstanceCounts:
    """One instance's counters in a router, cumulative since the router started: a run's
    own are the difference from a snapshot at its start (`since`). A 5xx answer and a
    connection error (refused, reset, timed out: no whole answer) are counted apart."""

    requests: int = 0
    status_5xx: int = 0
    connection_errors: int = 0

    def since(self, base: InstanceCounts) -> InstanceCounts:
        """The counts added after `base`; all of them if a counter went back (a restart)."""
        if (
            self.requests < base.requests
            or self.status_5xx < base.status_5xx
            or self.connection_errors < base.connection_errors
        ):
            return self
        return InstanceCounts(
            self.requests - base.requests,
            self.status_5xx - base.status_5xx,
            self.connection_errors - base.connection_errors,
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "status_5xx": self.status_5xx,
            "connection_errors": self.connection_errors,
        }


@dataclass(frozen=True)
class RouterStats:
    colors: dict[str, ColorStats] = field(default_factory=dict)
    source: str = ""  # where the figures come from, e.g. "haproxy show stat"


class Router(ABC):
    """One load balancer in front of blue and green: the commands a rollout needs.

    Instances are named by color and index (`blue0`, `green1`, ...): the server name a
    router puts in `x-surge-upstream` starts with the color, so Surge's clients split
    every figure by color whichever router answered.
    """

    kind: ClassVar[str] = "router"

    @abstractmethod
    def describe(self) -> str:
        """For the deploy panel and the report: which router, and where."""

    async def check(self) -> None:
        """Before a rollout: does the router answer? RouterError says what does not."""
        return None

    @abstractmethod
    async def set_weights(self, weights: Weights) -> None:
        """Share traffic between the colors; applies to the next request."""

    @abstractmethod
    async def set_in_service(self, in_service: InService) -> None:
        """Which instances of each color take new requests (rolling strategies)."""

    async def set_routes(self, routes: tuple[Route, ...]) -> None:
        """Cohort routes: matching requests go to the route's color whatever the
        weights (an empty tuple: none); applies to the next request."""
        raise RouterError(f"{self.kind}: cohort routes are not supported")

    async def set_mirror(self, mirror: Mirror) -> None:
        """Copy requests to green (`mirror.percent` of them; 0: stop)."""
        raise RouterError(f"{self.kind}: mirroring is not supported")

    async def mirror_stats(self) -> MirrorCounts | None:
        """The mirror's counters (cumulative); None when the router cannot compare pairs
        (Envoy drops the shadow's answers: a mirror step there judges green's own figures)."""
        return None

    async def add_instance(
        self, color: str, name: str, address: str, tag: str | None = None
    ) -> bool:
        """A new instance (`host:port`) of `color` takes traffic (service discovery);
        False when the router already had it. A `tag` names its answers instead of the
        color (`x-surge-upstream`), so its figures stay apart (a canary's baseline)."""
        raise RouterError(f"{self.kind}: adding instances is not supported")

    async def drain_instance(self, color: str, name: str) -> None:
        """No new requests for the instance; requests in flight finish."""
        raise RouterError(f"{self.kind}: draining instances is not supported")

    async def remove_instance(self, color: str, name: str) -> None:
        """Forget a drained instance."""
        raise RouterError(f"{self.kind}: removing instances is not supported")

    async def in_flight(self, names: list[str]) -> dict[str, int] | None:
        """Requests in flight on each named instance (a drain waits for 0); None when the
        router cannot say, and the fleet then waits a fixed time instead."""
        return None

    async def stats(self) -> RouterStats:
        """Per-color figures from the router's own counters."""
        return RouterStats()

    async def instance_stats(self) -> dict[str, InstanceCounts]:
        """Per-instance counters from the router, by instance name (since it started)."""
        return {}

    def fresh(self) -> Router:
        """A new client for the same router, for the next driver (each closes its own)."""
        return self

    async def aclose(self) -> None:
        return None


async def wait_drained(router: Router, names: list[str], timeout: float, fallback: float) -> bool:
    """Until the drained instances have nothing in flight (True), or `timeout` (False).
    A router that cannot count them gets `fallback` seconds instead (None from
    `in_flight`), and so does one whose count fails (the drain goes on regardless)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            counts = await router.in_flight(names)
        except RouterError:
            counts = None
        if counts is None:
            await asyncio.sleep(min(fallback, max(0.0, deadline - time.monotonic())))
            return False
        if not any(counts.values()):
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(DRAIN_POLL_S)


def stop_process(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM a router process, SIGKILL it after 5 s (HAProxy, Envoy, the compare proxy)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
