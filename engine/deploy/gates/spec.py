"""What a profile's `[[deploy.metrics]]` and `[deploy.hooks]` say, as plain values
(engine.profile.deploy_gates reads them): no httpx, no loop, so a profile loads light.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from engine.deploy.gates.conditions import Condition
from engine.deploy.gates.providers import Provider

__all__ = ["GATES", "HOOKS", "ON_REFUSE", "GatesPlan", "HookSpec", "MetricSpec"]


@dataclass(frozen=True)
class MetricSpec:
    name: str
    provider: Provider
    success: Condition | None = None
    failure: Condition | None = None
    every: float = 10.0  # seconds between measurements (Argo's interval)
    count: int | None = None  # measurements a window needs (None: one, and more while it lasts)
    failure_limit: int = 0
    inconclusive_limit: int = 0
    consecutive_error_limit: int = 4
    timeout: float = 5.0  # seconds one measurement may take

    @property
    def needed(self) -> int:
        return self.count or 1


# the hooks, Flagger's type and phase for each (its webhook payload's words)
HOOKS: dict[str, tuple[str, str]] = {
    "pre_rollout": ("pre-rollout", "Progressing"),
    "pre_promotion": ("confirm-promotion", "Promoting"),
    "post_promotion": ("post-rollout", "Succeeded"),
    "on_rollback": ("rollback", "Failed"),
}
GATES = ("pre_rollout", "pre_promotion")


@dataclass(frozen=True)
class HookSpec:
    """One hook: a command (argv) or a webhook (url), bounded by `timeout` seconds."""

    hook: str  # one of HOOKS
    command: tuple[str, ...] = ()
    url: str | None = None
    timeout: float = 30.0
    metadata: Mapping[str, str] = field(default_factory=dict)  # a webhook's, as Flagger's

    @property
    def target(self) -> str:
        return self.url if self.url is not None else " ".join(self.command)


ON_REFUSE = ("rollback", "pause")


@dataclass(frozen=True)
class GatesPlan:
    """`[[deploy.metrics]]` and `[deploy.hooks]` as the profile gave them."""

    metrics: tuple[MetricSpec, ...] = ()
    hooks: Mapping[str, HookSpec] = field(default_factory=dict)
    on_refuse: str = "rollback"  # ON_REFUSE

    def __bool__(self) -> bool:
        return bool(self.metrics or self.hooks)
