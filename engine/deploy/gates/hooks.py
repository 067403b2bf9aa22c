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
    assert spec.url is not None
    try:
        async with httpx.AsyncClient(timeout=spec.timeout, trust_env=False) as client:
            response = await client.post(spec.url, json=body)
    except httpx.TimeoutException:
        return "timed out", None, ""
    except httpx.HTTPError as exc:
        return "error", None, (str(exc) or type(exc).__name__)[-OUTPUT_LIMIT:]
    allowed = 200 <= response.status_code < 300
    return ("allowed" if allowed else "refused"), response.status_code, _bounded(response.content)


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
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), spec.timeout)
    except TimeoutError:
        await _kill(proc)
        return "timed out", None, f"killed after {spec.timeout:g}s"
    except asyncio.CancelledError:
        await _kill(proc)
        raise
    code = proc.returncode
    return ("allowed" if code == 0 else "refused"), code, _bounded(out)


async def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        await asyncio.shield(proc.wait())


def _bounded(data: bytes) -> str:
    return data.decode("utf-8", "replace")[-OUTPUT_LIMIT:]
