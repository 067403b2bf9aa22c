"""Prometheus' instant query, read one way for everyone who asks it: the observer (a
thread, `[observe].query`) and a rollout's `[[deploy.metrics]]` (the driver's loop).

Each asks with its own client (sync or async); the request and the reading of the
answer are here, so both agree on what a vector, a scalar and "no data" are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

__all__ = ["instant_request", "instant_values"]


def instant_request(url: str, expr: str) -> tuple[str, dict[str, str]]:
    """The URL and parameters of an instant query of `expr` at Prometheus' `url`."""
    return f"{url.rstrip('/')}/api/v1/query", {"query": expr}


def instant_values(response: httpx.Response) -> list[float]:
    """Each series' value of an instant query's answer (a scalar is one); NaN (no data
    yet) left out. ValueError with Prometheus' own error when the query failed."""
    try:
        body: Any = response.json()
    except ValueError:
        raise ValueError(f"HTTP {response.status_code}, not Prometheus' JSON") from None
    if not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error") if isinstance(body, dict) else None
        raise ValueError(str(error or f"HTTP {response.status_code}"))
    data = body["data"]
    if data["resultType"] == "scalar":
        values = [float(data["result"][1])]
    else:
        values = [float(item["value"][1]) for item in data["result"]]
    return [v for v in values if v == v]
