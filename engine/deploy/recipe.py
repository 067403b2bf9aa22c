"""A recipe: how Surge starts one color's instances itself (`[deploy.green]` as a table).

Plain values, read by the launcher (engine.deploy.instances) and written by the profile
parser (engine.profile.recipe), so a profile stands up the environment it deploys to
instead of naming URLs of servers someone else started.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["PLACEHOLDERS", "Health", "HealthError", "Recipe"]

#: What `command`, `env` and `workdir` may name; filled in per instance.
PLACEHOLDERS = ("port", "instance")


class HealthError(RuntimeError):
    """An instance exited or never answered its health check before its deadline (here,
    not in the launcher, so the command line can catch it without loading httpx)."""


@dataclass(frozen=True)
class Health:
    """`GET path` on the instance answers 2xx/3xx within `timeout` of its start."""

    path: str = "/health"
    timeout: float = 10.0


@dataclass(frozen=True)
class Recipe:
    """One color's instances: an argv (no shell) with `{port}` and `{instance}` filled in.

    `instance` is the instance's name (`green-2`), so a command can name its own files.
    `stop_grace`: seconds between SIGTERM and SIGKILL when it is stopped.
    """

    command: tuple[str, ...]
    instances: int = 1
    health: Health = field(default_factory=Health)
    env: Mapping[str, str] = field(default_factory=dict)
    workdir: str | None = None
    stop_grace: float = 5.0

    def argv(self, port: int, instance: str) -> list[str]:
        return [fill(arg, port, instance) for arg in self.command]

    def environment(self, port: int, instance: str) -> dict[str, str]:
        return {k: fill(v, port, instance) for k, v in self.env.items()}

    def describe(self, color: str) -> str:
        """What the app and `surge run` show before the first start."""
        return f"{color}: {self.instances} x {' '.join(self.command)}"


def fill(text: str, port: int, instance: str) -> str:
    """`{port}` and `{instance}` replaced; any other brace is left as written (a JSON
    argument stays intact), which is why this is not `str.format`."""
    return text.replace("{port}", str(port)).replace("{instance}", instance)
