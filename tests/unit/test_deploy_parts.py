"""The deploy driver's parts on their own: the window book and the router sync."""

from __future__ import annotations

from engine.deploy.marks import Mark, ModelFigures, RunFigures
from engine.deploy.router_sync import RouterSync, Unapplied
from engine.deploy.routers import Router
from engine.deploy.strategies import Event, EventKind, InService, Weights
from engine.deploy.window_book import WindowBook


class Counting(ModelFigures):
    """Cumulative figures that grow by 10 requests (1 failed) per color per call."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    def __call__(self, run: RunFigures | None, color: str, t: float) -> Mark:
        n = self.calls[color] = self.calls.get(color, 0) + 1
        return Mark(t, 10 * n, n, {})


def test_a_window_is_the_figures_since_its_start_and_its_row_has_the_weights_it_ran_at() -> None:
    book = WindowBook(("blue", "green"), Counting(), Weights(100, 0))
    book.observe(None, 1.0)
    book.new_window(1.0, Weights(80, 20))
    book.observe(None, 2.0)
    book.observe(None, 3.0)
    assert (book.window["green"].requests, book.window["green"].failed) == (20, 2)
    assert [p.requests for p in book.live["green"]] == [10, 10, 10]
    book.put("green", Mark(0.0, 5, 5, {}))  # a smoke run's window instead
    verdict = Event(EventKind.ANALYSIS_FAILED, 3.0, "success rate 0%", 0)
    row = book.row(verdict, 3.0)
    assert (row.blue_weight, row.green_weight, row.window_s) == (80, 20, 2.0)
    assert (row.blue.requests, row.green.requests, row.verdict) == (20, 5, "failed")
    book.new_window(3.0, Weights(50, 50))  # the verdict's weights: the next window's
    assert book.window["blue"].requests == 0 and book.rows == [row]


class Taking(Router):
    """A router that takes every command and remembers the weights."""

    kind = "taking"

    def __init__(self) -> None:
        self.weights: list[Weights] = []

    def describe(self) -> str:
        return "taking"

    async def set_weights(self, weights: Weights) -> None:
        self.weights.append(weights)

    async def set_in_service(self, in_service: InService) -> None:
        return None


class Mover:
    """Moves that fail their health check `failures` times, then succeed."""

    def __init__(self, want: list[Weights], failures: int, last: bool = False) -> None:
        self.want, self.failures, self.last = want, failures, last
        self.moves: list[Weights] = []
        self.done = 0
        self.sync: RouterSync

    @property
    def active(self) -> bool:
        return True

    async def move(self, weights: Weights) -> bool:
        self.moves.append(weights)
        if self.failures:
            self.failures -= 1
            if self.last:
                raise Unapplied("instances did not start: boom")
            self.want[0] = Weights(100, 0)  # the rollback a failed health check is,
            self.sync.schedule()  # applied by the driver: the state changed meanwhile
            return False
        return True

    def moved(self) -> None:
        self.done += 1


async def test_a_move_that_rolls_back_moves_again_and_the_step_waits_for_the_last() -> None:
    want = [Weights(80, 20)]
    events: list[EventKind] = []
    mover = Mover(want, failures=1)
    sync = RouterSync(
        Taking(), lambda: (want[0], None), lambda k, m: events.append(k), lambda: 0.0, mover
    )
    mover.sync = sync
    sync.schedule()
    assert sync.moving  # at once: the strategy is not stepped before the move starts
    await sync.flush()
    assert mover.moves == [Weights(80, 20), Weights(100, 0)] and mover.done == 1
    assert sync.applied == Weights(100, 0) and not sync.moving and not events


async def test_a_state_that_cannot_be_applied_is_the_error_without_a_retry() -> None:
    want = [Weights(100, 0)]
    events: list[EventKind] = []
    mover = Mover(want, failures=1, last=True)
    sync = RouterSync(
        Taking(), lambda: (want[0], None), lambda k, m: events.append(k), lambda: 0.0, mover
    )
    mover.sync = sync
    sync.schedule()
    await sync.flush()
    assert sync.error == "instances did not start: boom" and sync.applied is None
    assert mover.done == 0 and not events and not sync.moving


async def test_a_burst_of_changes_sends_the_latest_state_only() -> None:
    router = Taking()
    want = [Weights(90, 10)]
    sync = RouterSync(router, lambda: (want[0], None), lambda k, m: None, lambda: 0.0)
    sync.schedule()
    for green in (20, 30, 40):
        want[0] = Weights(100 - green, green)
        sync.schedule()
    await sync.flush()
    assert router.weights == [Weights(60, 40)] and sync.confirmed(Weights(60, 40))
