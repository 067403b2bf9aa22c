"""Surge's own proxy (`surge proxy`), steered over its JSON admin API."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from engine.deploy.routers.base import ColorStats, Router, RouterError, RouterStats
from engine.deploy.strategies import InService, Weights

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

    def describe(self) -> str:
        return f"surge proxy (admin {self.admin.admin_url})"

    async def _put(self, path: str, body: Mapping[str, Any]) -> None:
        try:
            await self.admin.put(path, body)
        except (httpx.HTTPError, RuntimeError, OSError) as exc:
            raise RouterError(f"proxy admin: {exc or type(exc).__name__}") from exc

    async def set_weights(self, weights: Weights) -> None:
        await self._put("/weights", weights.as_dict())

    async def set_in_service(self, in_service: InService) -> None:
        await self._put("/instances", in_service.as_dict())

    async def stats(self) -> RouterStats:
        try:
            data = await self.admin.get("/stats")
        except (httpx.HTTPError, OSError) as exc:
            raise RouterError(f"proxy admin: {exc or type(exc).__name__}") from exc
        colors = {
            color: ColorStats(int(s.get("requests", 0)), int(s.get("status_5xx", 0)))
            for color, s in data.items()
            if isinstance(s, Mapping)
        }
        return RouterStats(colors, "surge proxy /stats")

    async def instance_stats(self) -> dict[str, ColorStats]:
        try:
            data = await self.admin.get("/instances")
        except (httpx.HTTPError, OSError) as exc:
            raise RouterError(f"proxy admin: {exc or type(exc).__name__}") from exc
        return {
            f"{i['color']}-{i['index']}": ColorStats(int(i["requests"]), int(i["failures"]))
            for i in data
            if isinstance(i, Mapping)
        }

    async def aclose(self) -> None:
        await self.admin.aclose()
