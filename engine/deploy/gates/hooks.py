"""`[deploy.hooks]`: commands and webhooks at a rollout's turns, as Flagger's webhooks
and CodeDeploy's lifecycle hooks run them.

`pre_rollout` and `pre_promotion` are gates: a refusal (a command's non-zero exit, a
webhook's non-2xx answer, an error or a timeout: gates fail closed) stops the rollout
before any weight moves, or stops the promotion (rolled back, or paused with
`on_refuse = "pause"`). `post_promotion` and `on_rollback` only tell, and are on
record. A command runs without a shell (argv), in the profile's folder, in a process
group of its own that is killed whole at its timeout or when Surge ends; a webhook is
a POST of the rollout's state as JSON in Flagger's shape (name, namespace, phase,
type, metadata).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping
from pathlib import Path
from time import monotonic
from typing import Any

import httpx

from engine.deploy.gates.spec import HOOKS, HookSpec
from engine.report.deploy_gates import HookRow

__all__ = ["OUTPUT_LIMIT", "payload", "run_hook"]

OUTPUT_LIMIT = 2000  # characters of a hook's output kept (its end: where it says why)


def payload(spec: HookSpec, name: str, metadata: Mapping[str, str]) -> dict[str, Any]:
    """The webhook's body, in Flagger's shape; Surge's own state under `metadata`."""
    kind, phase = HOOKS[spec.hook]
    return {
        "name": name,
        "namespace": "surge",
        "phase": phase,
        "type": kind,
        "metadata": {**spec.metadata, **metadata},
    }


async def run_hook(
    spec: HookSpec, cwd: Path, body: Mapping[str, Any], at_s: float = 0.0
) -> HookRow:
    """Run one hook to its end (or its timeout); cancelling it kills its process group."""
    start = monotonic()
    if spec.url is not None:
        result, status, output = await _post(spec, body)
    else:
        result, status, output = await _command(spec, cwd)
    return HookRow(spec.hook, spec.target, at_s, monotonic() - start, result, status, output)


async def _post(spec: HookSpec, body: Mapping[str, Any]) -> tuple[str, int | None, str]:
    """The whole exchange within `timeout` (httpx's own timeout is per read: a server
    trickling bytes would hold a gate for ever); the body's end kept, not all of it."""
    assert spec.url is not None
    tail = _Tail()
    try:
        async with (
            asyncio.timeout(spec.timeout),
            httpx.AsyncClient(timeout=spec.timeout, trust_env=False) as client,
            client.stream("POST", spec.url, json=body) as response,
        ):
            async for chunk in response.aiter_bytes():
                tail.add(chunk)
    except (TimeoutError, httpx.TimeoutException):
        return "timed out", None, f"no whole answer after {spec.timeout:g}s"
    except httpx.HTTPError as exc:
        return "error", None, (str(exc) or type(exc).__name__)[-OUTPUT_LIMIT:]
    allowed = 200 <= response.status_code < 300
    return ("allowed" if allowed else "refused"), response.status_code, tail.text()


async def _command(spec: HookSpec, cwd: Path) -> tuple[str, int | None, str]:
    try:
        proc = await asyncio.create_subprocess_exec(
            *spec.command,
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed whole, children too
        )
    except OSError as exc:
        return "error", None, f"cannot run {spec.command[0]!r}: {exc.strerror or exc}"
    tail = _Tail()
    try:
        async with asyncio.timeout(spec.timeout):
            assert proc.stdout is not None
            while chunk := await proc.stdout.read(65536):
                tail.add(chunk)
            await proc.wait()
    except TimeoutError:
        await _kill(proc)
        return "timed out", None, f"killed after {spec.timeout:g}s"
    except asyncio.CancelledError:
        await _kill(proc)
        raise
    code = proc.returncode
    return ("allowed" if code == 0 else "refused"), code, tail.text()


async def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        await asyncio.shield(proc.wait())


class _Tail:
    """The last bytes of a stream read in chunks: a hook printing megabytes keeps
    only what `OUTPUT_LIMIT` shows (4 bytes a character at most in UTF-8)."""

    KEEP = 4 * OUTPUT_LIMIT

    def __init__(self) -> None:
        self._data = bytearray()

    def add(self, chunk: bytes) -> None:
        self._data += chunk
        if len(self._data) > 2 * self.KEEP:
            del self._data[: -self.KEEP]

    def text(self) -> str:
        return bytes(self._data[-self.KEEP :]).decode("utf-8", "replace")[-OUTPUT_LIMIT:]
