"""Manual rollout: the operator moves green's share by fixed increments."""

from __future__ import annotations

from typing import ClassVar

from engine.deploy.strategies.analysis import FiguresByColor
from engine.deploy.strategies.base import Decision, Event, EventKind, Phase, Strategy, Weights


class Manual(Strategy):
    """The operator moves green's share in `step`% increments (keys or a slider)."""

    name: ClassVar[str] = "manual"

    def __init__(self, step: int = 10) -> None:
        super().__init__()
        if not 1 <= step <= 100:
            raise ValueError(f"step must be 1..100, got {step!r}")
        self.increment = step

    def _begin(self, now: float) -> Decision:
        event = Event(EventKind.STEP_STARTED, now, "manual: green 0%", 0)
        return self._decision((event,))

    def _tick(self, now: float, figures: FiguresByColor | None) -> Decision:
        return self._decision(())

    def up(self, now: float) -> Decision:
        return self.set_green(now, self.weights.green + self.increment)

    def down(self, now: float) -> Decision:
        return self.set_green(now, self.weights.green - self.increment)

    def set_green(self, now: float, percent: float) -> Decision:
        """Snap to the nearest increment in 0..100; a finished rollout is not reopened."""
        if self.phase not in (Phase.RUNNING, Phase.PAUSED):
            return self._decision(())
        snapped = round(percent / self.increment) * self.increment
        snapped = max(0, min(100, snapped))
        if snapped == self.weights.green:
            return self._decision(())
        before = self._snapshot()
        self.weights = Weights.green_percent(snapped)
        self.step_index = snapped // self.increment
        event = Event(EventKind.STEP_STARTED, now, f"manual: green {snapped}%", self.step_index)
        return self._decision((event,), before=before)
