"""What a threshold observes, judged as k6 judges it: empty selections (fact 9 of
docs/design/scenarios-and-vocabulary.md) and checks kept per step."""

from __future__ import annotations

import pytest

from engine.load.metrics import Interval, Recorder
from engine.load.model import RunModel
from engine.load.thresholds import parse_threshold


def _interval() -> Interval:
    """Two steps: `home` answers 200 four times, `missing` 404 twice; both check 200."""
    rec = Recorder(separate_latency=False)
    for step, status, n in (("home", 200, 4), ("missing", 404, 2)):
        for _ in range(n):
            rec.record(step, None, 2000, 2000, status, status >= 400, 10, 10)
            rec.check("status is 200", status == 200, step)
    return Interval.decode(rec.harvest(1.0, vus=1, vus_max=1, target=1).encode())


# (key, expression, live verdict, final verdict, final observed)
EMPTY = [
    # k6 judges an empty trend as 0 for every aggregation
    ("http_req_duration{step:nosuch}", "p(95)<0", True, False, 0.0),
    ("http_req_duration{step:nosuch}", "avg==0", True, True, 0.0),
    ("latency{step:nosuch}", "max>0", True, False, 0.0),
    ("http_req_waiting", "med>0", True, False, 0.0),  # no phase recorded at all
    ("iteration_duration", "min>0", True, False, 0.0),
    # ... and an empty counter as 0, its count and its rate
    ("http_reqs{step:nosuch}", "count>0", True, False, 0.0),
    ("http_reqs{step:nosuch}", "rate>0", True, False, 0.0),
    ("dropped_iterations", "count<1", True, True, 0.0),
    ("data_sent{step:nosuch}", "count>=1", True, False, 0.0),
    # an empty rate is not judged, live or at the end
    ("checks{step:nosuch}", "rate>0.9", True, True, None),
    ("http_req_failed{step:nosuch}", "rate>0.5", True, True, None),
    ("checks{check:nosuch}", "rate==1", True, True, None),
]


@pytest.mark.parametrize(("key", "expr", "live", "final", "observed"), EMPTY)
def test_an_empty_selection_is_judged_as_k6_judges_it(
    key: str, expr: str, live: bool, final: bool, observed: float | None
) -> None:
    model = RunModel((parse_threshold(key, expr),))
    model.add(_interval())
    assert model.evaluate()[0].ok is live  # while running, k6 skips an empty sink
    state = model.evaluate(final=True)[0]
    assert (state.ok, state.observed) == (final, observed)


@pytest.mark.parametrize(
    ("key", "observed"),
    [
        ("checks", 4 / 6),
        ("checks{step:home}", 1.0),
        ("checks{name:home}", 1.0),
        ("checks{step:missing}", 0.0),
        ("checks{step:missing,check:status is 200}", 0.0),
        ("checks{check:status is 200}", 4 / 6),
    ],
)
def test_checks_with_a_step_tag_select_that_steps_checks(key: str, observed: float) -> None:
    model = RunModel((parse_threshold(key, "rate>=0"),))
    model.add(_interval())
    assert model.evaluate(final=True)[0].observed == pytest.approx(observed)


def test_checks_of_one_name_add_up_over_steps_in_the_summary() -> None:
    model = RunModel()
    model.add(_interval())
    model.add(_interval())
    assert model.checks() == {"status is 200": (8, 4)}
    assert model.checks_rate() == pytest.approx(8 / 12)


def test_a_counter_with_samples_is_judged_live() -> None:
    model = RunModel((parse_threshold("http_reqs{step:home}", "count<3"),))
    model.add(_interval())
    assert model.evaluate()[0].ok is False
