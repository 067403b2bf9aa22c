"""A rollout's metrics and hooks, put to the driver through one narrow face.

The driver (engine.deploy.driver) calls `attach` once, `hold_start` when the rollout
starts, `saw` with each decision, `settle` and `aclose` at the end; the strategy asks
the metrics at each judged window (`Strategy.window_gate`) and the `pre_promotion` gate
before promoting (`Strategy.promotion_gate`). Everything runs on the driver's loop as
tasks: no snapshot waits for a query or a hook.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from time import monotonic

from engine.deploy.gates.hooks import payload, run_hook
from engine.deploy.gates.metrics import MetricGate
from engine.deploy.gates.spec import GatesPlan
from engine.deploy.strategies import Decision, EventKind, Phase, Strategy
from engine.deploy.strategies.base import GateAnswer
from engine.report.deploy_gates import HookRow, MetricRow

__all__ = ["RolloutGates"]

Note = Callable[[EventKind, str], None]
State = Callable[[], dict[str, str]]


class RolloutGates:
    """The metrics measured and the hooks run for one rollout, and their record."""

    def __init__(
        self,
        plan: GatesPlan,
        *,
        cwd: Path,
        name: str,
        note: Note,
        state: State,
        clock: Callable[[], float] = monotonic,
    ) -> None:
        self.plan = plan
        self.cwd = cwd
        self.name = name  # the webhook's `name`: the profile's
        self.note = note  # an event of the rollout's own (the driver's `note`)
        self.state = state  # the rollout as the webhook's metadata (weights, step, phase)
        self.clock = clock
        self.metrics = MetricGate(plan.metrics, clock) if plan.metrics else None
        self.hooks: list[HookRow] = []
        self.refused = False  # the last gate asked refused (the rollout's outcome then)
        self._t0 = clock()
        self._tasks: dict[str, asyncio.Task[HookRow]] = {}
        self._started = False
        self._wake: Callable[[], object] = lambda: None

    def attach(self, strategy: Strategy, t0: float, wake: Callable[[], object]) -> None:
        """`wake`: the driver steps the strategy now (a gate answered between snapshots)."""
        self._t0 = t0
        self._wake = wake
        if self.metrics is not None:
            strategy.window_gate = self.metrics.judge
        if "pre_promotion" in self.plan.hooks:
            strategy.promotion_gate = self

    # -- the gates ------------------------------------------------------------------------

    def hold_start(self, start: Callable[[], object]) -> bool:
        """With a `pre_rollout` hook, the rollout starts (`start()`) only once it allows;
        True while that is pending (or after it refused: nothing starts)."""
        if "pre_rollout" not in self.plan.hooks:
            return False
        if "pre_rollout" in self._tasks or any(h.hook == "pre_rollout" for h in self.hooks):
            return True  # asked already: its answer starts the rollout, or refused it

        def answered(row: HookRow) -> None:
            if row.allowed:
                start()
            else:  # nothing moved: the rollout never starts
                self.refused = True

        self._run("pre_rollout", answered)
        return True

    def ask(self, now: float) -> tuple[GateAnswer, str]:
        """The `pre_promotion` gate (Strategy.promotion_gate): the hook runs on the
        first ask; later asks wait for it, then take its answer (once)."""
        task = self._tasks.get("pre_promotion")
        if task is None:
            self._run("pre_promotion")
            return GateAnswer.WAIT, "asking pre_promotion"
        if not task.done():
            return GateAnswer.WAIT, "asking pre_promotion"
        del self._tasks["pre_promotion"]
        row = task.result() if not task.cancelled() and task.exception() is None else None
        if row is not None and row.allowed:
            self.refused = False
            return GateAnswer.ALLOW, ""
        self.refused = True
        why = "the hook could not run" if row is None else _why(row, said=row.result != "refused")
        pause = self.plan.on_refuse == "pause"
        return (GateAnswer.PAUSE if pause else GateAnswer.ROLLBACK), why

    # -- the driver's side ------------------------------------------------------------------

    def saw(self, d: Decision) -> None:
        """Each decision: measuring starts with the rollout, windows follow the strategy's,
        a promotion and a rollback call their hooks."""
        if self.metrics is not None:
            if not self._started and d.events:
                self._started = True
                self.metrics.start(self._t0)
            if d.new_window:
                self.metrics.new_window()
            if d.phase in (Phase.PROMOTED, Phase.ROLLED_BACK):
                self.metrics.stop()
        for e in d.events:
            if e.kind is EventKind.PROMOTED and "post_promotion" in self.plan.hooks:
                self._run("post_promotion")
            if e.kind is EventKind.ROLLED_BACK and "on_rollback" in self.plan.hooks:
                self._run("on_rollback")

    async def settle(self) -> None:
        """The rollout is over: the telling hooks still running finish (each bounded by
        its timeout); a gate still asking is moot, and killed."""
        for hook in ("pre_rollout", "pre_promotion"):
            if (task := self._tasks.get(hook)) is not None:
                task.cancel()
        await self._wait()

    async def aclose(self) -> None:
        """Surge ends: every hook still running is killed (its whole process group)."""
        for task in self._tasks.values():
            task.cancel()
        await self._wait()
        if self.metrics is not None:
            await self.metrics.aclose()

    def rows(self) -> tuple[tuple[MetricRow, ...], tuple[HookRow, ...]]:
        metrics = self.metrics.rows() if self.metrics is not None else ()
        return metrics, tuple(sorted(self.hooks, key=lambda h: h.at_s))

    # -- running one --------------------------------------------------------------------------

    def _run(self, hook: str, then: Callable[[HookRow], None] | None = None) -> None:
        spec = self.plan.hooks[hook]
        at = self.clock() - self._t0
        body = payload(spec, self.name, self.state())
        task = asyncio.get_running_loop().create_task(run_hook(spec, self.cwd, body, at))
        self._tasks[hook] = task

        def done(t: asyncio.Task[HookRow]) -> None:
            if self._tasks.get(hook) is t and hook not in ("pre_promotion",):
                del self._tasks[hook]
            took = self.clock() - self._t0 - at
            if t.cancelled():
                row = HookRow(hook, spec.target, at, took, "cancelled")
            elif (exc := t.exception()) is not None:  # a hook that could not run at all
                row = HookRow(hook, spec.target, at, took, "error", None, str(exc) or repr(exc))
            else:
                row = t.result()
            self.hooks.append(row)
            self.note(EventKind.HOOK, f"{hook}: {_why(row)}")
            if then is not None and not t.cancelled():
                then(row)
            if hook == "pre_promotion" and not t.cancelled():
                self._wake()  # the strategy takes the answer now, not at the next snapshot

        task.add_done_callback(done)

    async def _wait(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task  # its row is on record by its done callback, whatever it did
        await asyncio.sleep(0)  # the done callbacks run: each run on record
        self._tasks.clear()


def _why(row: HookRow, *, said: bool = True) -> str:
    """`refused (exit 3): green is not ready`; without `said`, `exit 3: green is not ready`."""
    status = row.status_text
    head = f"{row.result} ({status})" if said and status else (status if status else row.result)
    last = row.output.strip().splitlines()[-1][:120] if row.output.strip() else ""
    return f"{head}{': ' + last if last else ''}"
