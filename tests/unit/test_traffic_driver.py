"""The deploy driver with cohort routes and mirror steps: routes and mirror applied with
every decision and confirmed like weights, cohort windows, mirror windows by difference
of the router's counters, all off on a rollback and when Surge leaves.

The router here is an in-memory one: the real ones' side (Surge's proxy, Envoy) is
proxy30's and tested there; this is the driver's own logic, at its own pace."""

from __future__ import annotations

from typing import Any

from engine.deploy.driver import DeployDriver
from engine.deploy.marks import Mark, RunFigures, selects
from engine.deploy.routers import ColorStats, Router, RouterError, RouterStats
from engine.deploy.strategies import (
    Analysis,
    Canary,
    CohortStep,
    EventKind,
    InService,
    MirrorStep,
    OnExit,
    Phase,
    Weights,
)
from engine.deploy.strategies.traffic import (
    Mirror,
    MirrorCounts,
    MirrorExample,
    Route,
    RouteKind,
)
from engine.report.deploy_section import render_step

BETA = Route(RouteKind.HEADER, "x-beta", "green", value="1", cohort="beta")
A = Analysis(interval=5.0, min_requests=20, min_success_rate=0.95, max_p99_ratio=3.0)
GOOD_MS = {10: 5}  # histogram index -> count, a few ms


class Steering(Router):
    """Takes weights, routes and mirrors (or refuses them), and counts mirrored pairs."""

    kind = "steering"

    def __init__(self, *, refuse: bool = False, pairs: bool = True) -> None:
        self.calls: list[Any] = []
        self.refuse = refuse
        self.pairs = pairs  # False: like Envoy, cannot compare pairs
        self.counts = MirrorCounts(mirrored=500, blue={10: 500}, green={10: 500})  # before
        self.green_requests = self.green_errors = 0

    def describe(self) -> str:
        return "steering"

    async def set_weights(self, weights: Weights) -> None:
        self.calls.append(weights)

    async def set_in_service(self, in_service: InService) -> None:
        return None

    async def set_routes(self, routes: tuple[Route, ...]) -> None:
        if self.refuse:
            raise RouterError("steering: cohort routes are not supported")
        self.calls.append(routes)

    async def set_mirror(self, mirror: Mirror) -> None:
        self.calls.append(mirror)

    async def mirror_stats(self) -> MirrorCounts | None:
        return self.counts if self.pairs else None

    async def stats(self) -> RouterStats:
        """Green's own counters: what Envoy's cluster stats say of the copies it sent."""
        return RouterStats({"green": ColorStats(self.green_requests, self.green_errors)})


class Figures:
    """Cumulative marks by answer tag; each key sums the tags it selects (marks.selects)."""

    note = "test figures"

    def __init__(self) -> None:
        self.tags: dict[str, Mark] = {}

    def add(self, tag: str, requests: int, failed: int = 0) -> None:
        m = self.tags.get(tag, Mark())
        counts = {10: m.counts.get(10, 0) + requests}
        self.tags[tag] = Mark(0.0, m.requests + requests, m.failed + failed, counts)

    def __call__(self, run: RunFigures | None, color: str, t: float) -> Mark:
        marks = [m for tag, m in self.tags.items() if selects(color, tag)]
        return Mark(
            t,
            sum(m.requests for m in marks),
            sum(m.failed for m in marks),
            {10: sum(m.counts.get(10, 0) for m in marks)},
        )

    async def aclose(self) -> None:
        return None


def driver(
    router: Router, steps: list[Any], **kw: Any
) -> tuple[DeployDriver, list[float], Figures]:
    now = [0.0]
    figures = Figures()
    d = DeployDriver(
        Canary(A, steps=steps),
        router,
        clock=lambda: now[0],
        figures_of=figures,
        routes=(BETA,),
        mirror_methods=("GET", "POST"),
        **kw,
    )
    return d, now, figures


async def test_a_cohort_then_a_mirror_then_weights_each_applied_judged_and_recorded() -> None:
    router = Steering()
    d, now, figures = driver(router, [CohortStep(), MirrorStep(100, 5.0), 50])
    d.start()
    await d.flush()
    assert router.calls == [Weights(100, 0), (BETA,)]  # routes on at the cohort step
    # the cohort's requests are green's window; blue's are the rest
    figures.add("blue", 200)
    figures.add("green+beta", 40)
    now[0] = 5.0
    d.observe(None)
    await d.flush()
    assert d.events[-1].message == "step 2/3: mirror 100% 5s"
    assert router.calls[-1] == Mirror(100, ("GET", "POST"))  # routes kept, mirror on
    cohort_row = d.book.rows[0]
    assert cohort_row.cohorts["green+beta"].requests == cohort_row.green.requests == 40
    assert "cohort: green 40 requests" in cohort_row.reason
    # the mirror's pairs by difference from the counters when the window started
    d.observe(None)
    await d.mirror_book._task  # type: ignore[misc]
    router.counts = MirrorCounts(
        mirrored=560,
        status_mismatch=1,
        blue={10: 560},
        green={10: 560},
        examples=(MirrorExample("/x", 200, 500),),
    )
    d.observe(None)
    await d.mirror_book._task  # type: ignore[misc]
    figures.add("green+beta", 30)
    now[0] = 10.0
    d.observe(None)
    await d.flush()
    row = d.book.rows[-1]
    assert row.verdict == "passed", row.reason
    assert row.mirror is not None
    assert (row.mirror.mirrored, row.mirror.status_mismatch) == (60, 1)
    assert row.mirror.examples[0].green_status == 500
    assert "mirror: 60 pairs, 0 errors, 1 status and 0 body mismatches" in row.reason
    assert router.calls[-2:] == [Weights(50, 50), Mirror()]
    text = render_step(row)
    assert "mirror 60 pairs: 1 status and 0 body mismatches, 0 errors" in text
    assert "/x: blue 200, green 500" in text
    d.rollback()
    await d.flush()
    assert router.calls[-2:] == [Weights(100, 0), ()]  # routes off with the rollback
    assert d.phase is Phase.ROLLED_BACK and d.sync.traffic == ((), Mirror())


async def test_a_router_that_refuses_routes_is_an_error_and_they_are_not_claimed() -> None:
    router = Steering(refuse=True)
    d, _now, _figures = driver(router, [CohortStep(), 50])
    d.start()
    await d.flush()
    assert d.sync.traffic == ((), Mirror())  # not what was asked
    assert d.error == "cohort routes not applied: steering: cohort routes are not supported"
    assert [e.kind for e in d.events].count(EventKind.ROUTER_ERROR) == 1
    d.start()  # another decision: tried again, not noted twice
    await d.flush()
    assert [e.kind for e in d.events].count(EventKind.ROUTER_ERROR) == 1
    record = await d.finish()
    assert record is not None
    assert any("cohort routes not applied" in n for n in record.notes)


async def test_leaving_mid_mirror_turns_the_mirror_off_even_with_on_exit_keep() -> None:
    router = Steering()
    d, _now, _figures = driver(router, [MirrorStep(50), 50], on_exit=OnExit.KEEP)
    d.start()
    await d.flush()
    assert router.calls[-1] == Mirror(50, ("GET", "POST"))
    await d.finish()
    assert router.calls[-1] == Mirror()
    assert d.phase is Phase.RUNNING and d.weights == Weights(100, 0)  # kept, as it says


async def test_a_router_without_pairs_judges_green_on_its_own_counters_and_says_so() -> None:
    router = Steering(pairs=False)
    router.green_requests, router.green_errors = 1000, 0  # before the step: not counted
    d, now, figures = driver(router, [MirrorStep(100), 50])
    d.start()
    await d.flush()
    figures.add("blue", 100)
    d.observe(None)  # learns the router has no pairs
    await d.mirror_book._task  # type: ignore[misc]
    d.observe(None)  # green's counters, the base
    await d.mirror_book._own._task  # type: ignore[union-attr]
    router.green_requests, router.green_errors = 1100, 10
    d.observe(None)
    await d.mirror_book._own._task  # type: ignore[union-attr]
    now[0] = 5.0
    d.observe(None)
    row = d.book.rows[-1]
    assert row.mirror is None and (row.green.requests, row.green.failed) == (100, 10)
    assert row.verdict == "failed"
    assert "the router drops green's answers: judged on green's own figures" in row.reason


def test_which_answers_count_for_a_color_and_a_cohort() -> None:
    table = [
        ("green", "green", True),
        ("green", "green+beta", True),
        ("green+beta", "green+beta", True),
        ("green+", "green+beta", True),
        ("green+", "green", False),
        ("green+beta", "green+qa", False),
        ("blue", "green+beta", False),
        ("green", None, False),
        (None, None, True),
    ]
    assert [selects(key, tag) for key, tag, _ in table] == [want for *_, want in table]
