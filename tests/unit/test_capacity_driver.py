"""The capacity driver over a simulated run: what it steers, when it idles, when it stops.

Intervals come from a real Recorder fed as a server of capacity 300/s would answer
(fast below it, slow above); the Controller is a stand-in that records the commands.
"""

from __future__ import annotations

import datetime as dt

import pytest

from engine.explore.model import CapacityResult
from engine.load.capacity import IDLE_SCALE, CapacityDriver
from engine.load.metrics import Interval, Recorder
from engine.load.model import RunModel
from engine.load.run import RunResult
from engine.load.states import StopCause, StopReason
from engine.load.thresholds import parse_threshold
from engine.profile import parse_profile
from engine.profile.plan import Overrides, build_plan
from tests.unit.test_capacity_profile import HEAD, SCENARIOS

TWO = (
    'capacity = { hold = "1s", start = 100, precision = 0.1 }\n'
    + SCENARIOS  # two arrival-rate scenarios, 30/s and 10/s
    + '[thresholds]\nhttp_req_duration = ["p(95)<50"]\n'
)


class Ctrl:
    """The Controller's two commands, recorded; the offered rate they add up to."""

    def __init__(self) -> None:
        self.scales: dict[str | None, float] = {}
        self.calls: list[tuple[float, str | None]] = []
        self.stopped: StopCause | None = None

    def set_scale(self, scale: float, scenario: str | None = None) -> None:
        self.scales[scenario] = scale
        self.calls.append((scale, scenario))

    def stop(self, reason: StopCause | str = StopReason.USER_STOP) -> None:
        self.stopped = StopCause.of(reason)


def interval(t: float, rate: float, *, capacity: float, busy: int = 0, drop: int = 0) -> Interval:
    rec = Recorder(separate_latency=False, one_request=True, start=t)
    latency_us = 1_000 if rate <= capacity else 200_000
    for _ in range(round(rate * 0.5)):
        rec.record("", None, latency_us, latency_us, 200, False, 100, 100)
    rec.dropped(drop)
    iv = rec.harvest(t + 0.5, vus=busy, vus_max=50, target=rate)
    iv.lanes = {"browse": Interval(t, t + 0.5, vus=busy), "buy": Interval(t, t + 0.5, vus=busy)}
    return iv


def drive(driver: CapacityDriver, ctrl: Ctrl, *, capacity: float, cpu: float = 10.0) -> None:
    t, base = 0.0, driver.settings.start
    for _ in range(400):
        if ctrl.stopped is not None:
            return
        scale = next(iter(ctrl.scales.values()), 1.0)
        busy = 5 if scale == IDLE_SCALE and t % 2 < 0.5 else 0  # the queue drains a while
        driver.interval(ctrl, interval(t, base * scale, capacity=capacity, busy=busy), cpu)
        t += 0.5
    raise AssertionError("the search never ended")


def test_several_scenarios_are_steered_alike_and_the_search_ends() -> None:
    plan = build_plan(parse_profile(HEAD + TWO, "p.toml"), Overrides(test_type="capacity"))
    assert plan.capacity is not None
    driver, ctrl = CapacityDriver(plan, plan.capacity), Ctrl()
    drive(driver, ctrl, capacity=300)
    result = driver.result()
    assert result.rate is not None and 270 <= result.rate <= 300 < (result.failed_at or 0)
    assert ctrl.stopped is not None and ctrl.stopped.kind is StopReason.CAPACITY
    assert str(ctrl.stopped).startswith("capacity search done: holds ")
    pairs = list(zip(ctrl.calls[::2], ctrl.calls[1::2], strict=True))
    assert all(a[0] == b[0] and (a[1], b[1]) == ("browse", "buy") for a, b in pairs)
    assert [r for (scale, _), _ in pairs if (r := round(scale * 100)) != 0][:3] == [200, 400, 300]
    idles = [i for i, ((scale, _), _) in enumerate(pairs) if scale == IDLE_SCALE]
    failed = sum(not s.held for s in result.steps)
    assert not result.steps[-1].held  # the deciding failure, run again: then it stops
    assert len(idles) == failed - 1  # after every other failed step, the load idles first


@pytest.mark.parametrize(("cpu", "drop"), [(95.0, 0), (10.0, 3)])
def test_a_step_the_generator_cannot_drive_is_said_not_counted(cpu: float, drop: int) -> None:
    plan = build_plan(parse_profile(HEAD + TWO, "p.toml"), Overrides(test_type="capacity"))
    assert plan.capacity is not None
    driver, ctrl = CapacityDriver(plan, plan.capacity), Ctrl()
    driver.interval(ctrl, interval(0.0, 100, capacity=300), cpu)  # warm-up: not judged
    driver.interval(ctrl, interval(0.5, 100, capacity=300, drop=drop), cpu)
    driver.interval(ctrl, interval(1.0, 100, capacity=300), cpu)
    (step,) = driver.steps
    assert step.generator_limited and not step.held
    assert driver.result().failed_at is None and ctrl.stopped is not None


def test_without_thresholds_the_default_slo_judges() -> None:
    plan = build_plan(parse_profile(HEAD + "rate = 5\n", "p.toml"), Overrides(test_type="capacity"))
    assert plan.thresholds == () and plan.capacity is not None
    driver = CapacityDriver(plan, plan.capacity)
    said = [(t.key, t.expression) for t in driver.thresholds]
    assert said == [("http_req_failed", "rate<0.01"), ("http_req_duration", "p(99)<1000")]


@pytest.mark.parametrize(
    ("reason", "rate", "code"),
    [
        (StopCause(StopReason.CAPACITY, "holds 300/s"), 300.0, 0),
        (StopCause(StopReason.CAPACITY, "even the first step failed"), None, 1),
        (StopCause(StopReason.INTERRUPTED), 300.0, 1),  # cut short: no answer
    ],
)
def test_the_exit_code_is_the_answer(reason: StopCause, rate: float | None, code: int) -> None:
    plan = build_plan(parse_profile(HEAD + "rate = 5\n", "p.toml"), Overrides(test_type="capacity"))
    failing = (parse_threshold("http_reqs", "count<0"),)  # the steps past it fail them
    model = RunModel(failing)
    model.evaluate(final=True)
    result = RunResult(
        plan=plan,
        model=model,
        started_at=dt.datetime.now(dt.UTC),
        duration=10.0,
        aborted=True,
        stop_reason=reason,
        capacity=CapacityResult(rate, 320.0, 0.05),
    )
    assert not model.passed() and result.exit_code == code
