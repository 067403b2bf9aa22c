"""Surge's own proxy (`surge proxy`), steered over its JSON admin API."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from engine.deploy.routers.base import (
    ColorStats,
    InstanceCounts,
    Router,
    RouterError,
    RouterStats,
)
from engine.deploy.strategies import COLORS, InService, Weights
from engine.deploy.strategies.traffic import Mirror, MirrorCounts, MirrorExample, Route

__all__ = ["ADMIN_TOKEN_ENV", "AdminClient", "SurgeProxyRouter"]

ADMIN_TIMEOUT_S = 5.0
ADMIN_TOKEN_ENV = "SURGE_ADMIN_TOKEN"


class AdminClient:
    """The proxy's admin API over httpx; proxy environment variables are ignored on purpose.

    The bearer token is `token`, else SURGE_ADMIN_TOKEN (what `surge proxy` reads too).
    """

    def __init__(
        self, admin_url: str, timeout: float = ADMIN_TIMEOUT_S, token: str | None = None
    ) -> None:
        self.admin_url = admin_url.rstrip("/")
        token = token if token is not None else os.environ.get(ADMIN_TOKEN_ENV) or None
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.AsyncClient(timeout=timeout, trust_env=False, headers=headers)

    async def put(self, path: str, body: Mapping[str, Any]) -> Any:
        resp = await self._client.put(self.admin_url + path, json=dict(body))
        if resp.status_code != 200:
            raise RuntimeError(f"PUT {path}: {resp.status_code} {resp.text.strip()}")
        return resp.json()

    async def post(self, path: str, body: Mapping[str, Any]) -> Any:
        resp = await self._client.post(self.admin_url + path, json=dict(body))
        if resp.status_code != 200:
            raise RuntimeError(f"POST {path}: {resp.status_code} {resp.text.strip()}")
        return resp.json()

    async def get(self, path: str) -> Any:
        resp = await self._client.get(self.admin_url + path)
        resp.raise_for_status()
        return resp.json()

    async def aclose(self) -> None:
        await self._client.aclose()


class SurgeProxyRouter(Router):
    """`surge proxy`: weights per request (smooth weighted round-robin), instance states."""

    kind: ClassVar[str] = "surge"

    def __init__(self, admin: AdminClient | str) -> None:
        self.admin = AdminClient(admin) if isinstance(admin, str) else admin
        self._indexes: dict[str, tuple[str, int]] = {}  # added instances: name -> (color, index)

    def describe(self) -> str:
        return f"surge proxy (admin {self.admin.admin_url})"

    async def _put(self, path: str, body: Mapping[str, Any]) -> None:
        try:
            await self.admin.put(path, body)
        except (httpx.HTTPError, RuntimeError, OSError) as exc:
            raise RouterError(f"proxy admin: {exc or type(exc).__name__}") from exc

    async def check(self) -> None:
        try:
            await self.admin.get("/weights")
        except (httpx.HTTPError, OSError) as exc:
            raise RouterError(f"proxy admin: {exc or type(exc).__name__}") from exc

    async def set_weights(self, weights: Weights) -> None:
        await self._put("/weights", weights.as_dict())

    async def set_in_service(self, in_service: InService) -> None:
        await self._put("/instances", in_service.as_dict())

    async def set_routes(self, routes: tuple[Route, ...]) -> None:
        await self._put("/routes", {"routes": [r.as_dict() for r in routes]})

    async def set_mirror(self, mirror: Mirror) -> None:
        await self._put("/mirror", {"percent": mirror.percent, "methods": list(mirror.methods)})

    async def mirror_stats(self) -> MirrorCounts | None:
        """GET /stats' `mirror`: the proxy compares each pair itself."""
        try:
            data = (await self.admin.get("/stats"))["mirror"]
            return MirrorCounts(
                int(data["mirrored"]),
                int(data["mirror_status_mismatch"]),
                int(data["mirror_body_mismatch"]),
                int(data["mirror_errors"]),
                {int(i): int(n) for i, n in data["blue"]["counts"].items()},
                {int(i): int(n) for i, n in data["green"]["counts"].items()},
                tuple(
                    MirrorExample(str(e["path"]), int(e["blue_status"]), int(e["green_status"]))
                    for e in data["examples"]
                ),
            )
        except (httpx.HTTPError, OSError) as exc:
            raise RouterError(f"proxy admin: {exc or type(exc).__name__}") from exc
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise RouterError(f"proxy admin: /stats has no mirror figures ({exc!r})") from exc

    async def add_instance(
        self, color: str, name: str, address: str, tag: str | None = None
    ) -> bool:
        """POST /instances; the proxy names instances by index, so the name is kept here."""
        body = {"color": color, "url": f"http://{address}"}
        if tag is not None:
            body["tag"] = tag
        try:
            data = await self.admin.post("/instances", body)
        except (httpx.HTTPError, RuntimeError, OSError) as exc:
            raise RouterError(f"proxy admin: {exc or type(exc).__name__}") from exc
        known = name in self._indexes
        self._indexes[name] = (color, int(data["index"]))
        return not known

    async def drain_instance(self, color: str, name: str) -> None:
        """Out of service (PUT /instances with the others of its color); in flight finishes."""
        if name not in self._indexes:
            raise RouterError(f"proxy admin: no instance {name} added")
        _, index = self._indexes[name]
        try:
            listed = await self.admin.get("/instances")
        except (httpx.HTTPError, OSError) as exc:
            raise RouterError(f"proxy admin: {exc or type(exc).__name__}") from exc
        keep = [
            int(i["index"])
            for i in listed
            if i["color"] == color and i["in_service"] and int(i["index"]) != index
        ]
        await self._put("/instances", {color: keep})

    async def remove_instance(self, color: str, name: str) -> None:
        """The proxy keeps a drained instance listed, out of service (its index stays)."""
        self._indexes.pop(name, None)

    async def in_flight(self, names: list[str]) -> dict[str, int] | None:
        """From GET /instances: busy connections and waiters of each instance."""
        try:
            listed = await self.admin.get("/instances")
        except (httpx.HTTPError, OSError) as exc:
            raise RouterError(f"proxy admin: {exc or type(exc).__name__}") from exc
        by_index = {(i["color"], int(i["index"])): int(i.get("in_flight", 0)) for i in listed}
        return {n: by_index.get(self._indexes[n], 0) for n in names if n in self._indexes}

    async def stats(self) -> RouterStats:
        try:
            data = await self.admin.get("/stats")
        except (httpx.HTTPError, OSError) as exc:
            raise RouterError(f"proxy admin: {exc or type(exc).__name__}") from exc
        colors = {
            color: ColorStats(int(s.get("requests", 0)), int(s.get("status_5xx", 0)))
            for color, s in data.items()
            if color in COLORS and isinstance(s, Mapping)
        }
        return RouterStats(colors, "surge proxy /stats")

    async def instance_stats(self) -> dict[str, InstanceCounts]:
        try:
            data = await self.admin.get("/instances")
        except (httpx.HTTPError, OSError) as exc:
            raise RouterError(f"proxy admin: {exc or type(exc).__name__}") from exc
        return {
            f"{i['color']}-{i['index']}": InstanceCounts(
                int(i["requests"]), int(i.get("status_5xx", 0)), int(i["failures"])
            )
            for i in data
            if isinstance(i, Mapping)
        }

    async def aclose(self) -> None:
        await self.admin.aclose()
