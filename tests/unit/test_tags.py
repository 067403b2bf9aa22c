"""Tags resolved from the plan (engine/load/tags.py): what each threshold selects, as
k6 tags its samples (facts 4, 7, 8 of docs/design/scenarios-and-vocabulary.md)."""

from __future__ import annotations

import pytest

from engine.errors import ConfigError
from engine.http.request import prepare
from engine.load.executors import ExecutorConfig
from engine.load.flow import Flow, Step, Template
from engine.load.metrics import Interval, Recorder
from engine.load.model import RunModel
from engine.load.run import ScenarioPlan, WorkPlan, scenario_rows
from engine.load.tags import SETUP, LaneTags, Level, StepTags, TagIndex
from engine.load.thresholds import parse_threshold

INDEX = TagIndex.of(
    (("team", "web"),),
    [
        LaneTags("browse", (("kind", "read"),), (StepTags("list", "GET", "", (("page", "l"),)),)),
        LaneTags(
            "buy",
            (),
            (StepTags("cart", "POST", "::checkout"), StepTags("pay", "POST", "::checkout")),
        ),
        LaneTags(SETUP, (), (StepTags("login", "POST", "::setup"),), False, "::setup"),
    ],
)


def _lane(start: float, requests: dict[str, int], ok: bool = True) -> Recorder:
    rec = Recorder(separate_latency=False, start=start)
    for step, n in requests.items():
        for _ in range(n):
            rec.record(step, None, 2000, 2000, 200, False, 10, 10)
            rec.check("status is 200", ok, step)
    return rec


def _interval() -> Interval:
    """browse: 8 of `list`, 32 dropped; buy: 3 passes of the checkout group (cart, pay),
    failing its checks; setup: one login, no iteration."""
    browse = _lane(0, {"list": 8})
    for _ in range(8):
        browse.iteration(2000)
    browse.dropped(32)
    buy = _lane(0, {"cart": 3, "pay": 3}, ok=False)
    for _ in range(3):
        buy.iteration(4000)
        buy.group("::checkout", 5000)
    setup = _lane(0, {"login": 1})
    lanes = {
        name: Interval.decode(rec.harvest(1.0, vus=vus, vus_max=vus, target=vus).encode())
        for name, rec, vus in (("browse", browse, 2), ("buy", buy, 3), (SETUP, setup, 1))
    }
    total = Interval(0.0, 1.0)
    for lane in lanes.values():
        total.add(lane)
    total.lanes = lanes
    return total


@pytest.mark.parametrize(
    ("key", "expression", "observed"),
    [
        ("http_reqs{scenario:browse}", "count>0", 8),
        ("http_reqs{kind:read}", "count>0", 8),  # a scenario's tags are on its requests
        ("http_reqs{team:web}", "count>0", 15),  # run tags on every request, setup's too
        ("http_reqs{group:::setup}", "count>0", 1),  # setup: group ::setup, no scenario
        ("http_reqs{group:::checkout}", "count>0", 6),
        ("http_reqs{page:l}", "count>0", 8),  # a step's own tags
        ("http_reqs{method:POST}", "count>0", 7),
        ("http_reqs{scenario:buy,name:pay}", "count>0", 3),
        ("http_reqs{scenario:nosuch}", "count>0", 0),
        ("dropped_iterations{scenario:browse}", "count<5", 32),
        ("dropped_iterations{kind:read}", "count>0", 0),  # fact 4: not the scenario's tags
        ("dropped_iterations{team:web}", "count>0", 32),  # ... but run tags
        ("iterations", "count>0", 11),
        ("iterations{scenario:buy}", "count==3", 3),
        ("iterations{kind:read}", "count>0", 8),
        ("iterations{group:::setup}", "count>0", 0),  # setup runs no iteration (fact 6)
        ("checks{scenario:buy}", "rate>0", 0.0),
        ("checks{kind:read}", "rate>0", 1.0),
        ("checks{group:::checkout}", "rate>0", 0.0),
        ("checks{page:l}", "rate>0", None),  # a request's own tags are not on checks (k6)
        ("group_duration{group:::checkout}", "avg<10", 5.0),
        ("group_duration", "avg<10", 5.0),
        ("group_duration{scenario:browse}", "avg<10", 0.0),  # an empty trend: 0
        ("iteration_duration{scenario:buy}", "avg<10", 4.0),
        ("http_req_duration{scenario:browse}", "max<10", 2.0),
        ("vus{team:web}", "value>0", 6.0),  # a run tag: the whole run
    ],
)
def test_a_threshold_selects_what_carries_its_tags(
    key: str, expression: str, observed: float | None
) -> None:
    model = RunModel((parse_threshold(key, expression),), index=INDEX)
    model.add(_interval())
    assert model.evaluate(final=True)[0].observed == observed


@pytest.mark.parametrize(("status", "count"), [("200", 2), ("500", 1), ("0", 1), ("x", 0)])
def test_a_status_tag_counts_a_request_with_no_response_as_k6s_status_0(
    status: str, count: int
) -> None:
    rec = Recorder(separate_latency=False, start=0)
    for code in (200, 200, 500):
        rec.record("a", None, 2000, 2000, code, code >= 500, 10, 10)
    rec.record("a", None, 2000, 2000, 0, True, 10, 10, "timeout")
    model = RunModel((parse_threshold(f"http_reqs{{status:{status}}}", "count>0"),))
    model.add(Interval.decode(rec.harvest(1.0, vus=1, vus_max=1, target=1).encode()))
    assert model.evaluate(final=True)[0].observed == count


def test_each_lane_is_a_run_model_of_its_own() -> None:
    model = RunModel(index=INDEX)
    model.add(_interval())
    model.add(_interval())
    assert set(model.lanes) == {"browse", "buy", SETUP}
    browse = model.lanes["browse"]
    assert browse.figures().requests == 16
    assert [r.requests for r in browse.timeline] == [8, 8]
    assert [r.dropped for r in browse.timeline] == [32, 32]
    assert model.lanes["buy"].checks() == {"status is 200": (0, 12)}
    assert model.figures().requests == 30


@pytest.mark.parametrize(
    ("level", "lane", "item", "tags"),
    [
        (Level.REQUEST, "browse", "list", {"team": "web", "kind": "read", "page": "l"}),
        (Level.CHECK, "browse", "list", {"team": "web", "kind": "read"}),
        (Level.DROPPED, "browse", "", {"team": "web"}),
        (Level.ITERATION, "browse", "", {"team": "web", "kind": "read"}),
        (Level.GROUP, "buy", "::checkout", {"team": "web", "group": "::checkout"}),
        (Level.RUN, "browse", "", {"team": "web"}),
        (Level.REQUEST, SETUP, "login", {"team": "web", "group": "::setup"}),
    ],
)
def test_the_tags_of_each_level(level: Level, lane: str, item: str, tags: dict) -> None:
    system = {"scenario", "step", "method", "group"} - set(tags)
    got = INDEX.tags(level, lane, item)
    assert {k: v for k, v in got.items() if k not in system} == tags


def test_a_whole_run_figure_takes_only_the_run_tags() -> None:
    INDEX.check(parse_threshold("vus{team:web}", "value>0"))
    with pytest.raises(ConfigError, match=r"kept for the whole run.*not kind"):
        INDEX.check(parse_threshold("vus_max{kind:read}", "value>0"))


def test_groups_merge_and_cross_a_process_boundary() -> None:
    rec = Recorder(separate_latency=False)
    for us in (1000, 3000):
        rec.group("::a", us)
    rec.group("::a::b", 500)
    iv = Interval.decode(rec.harvest(1.0, vus=1, vus_max=1, target=1).encode())
    iv.add(iv)
    assert iv.group_sums == {"::a": 8000, "::a::b": 1000}
    assert {k: h.get_total_count() for k, h in iv.groups.items()} == {"::a": 4, "::a::b": 2}


def test_a_scenario_row_shows_its_own_lane() -> None:
    model = RunModel(index=INDEX)
    model.add(_interval())
    buy = model.scenario_row("buy", "ramping-vus", 0.0, 10.0, finished=False)
    assert (buy.state, buy.vus, buy.iterations, buy.dropped) == ("running", 3, 3, 0)
    assert (buy.rps, buy.error_rate, buy.p95_ms) == (6.0, 0.0, pytest.approx(2.0, rel=1e-2))
    browse = model.scenario_row("browse", "constant-arrival-rate", 0.0, 1.0, finished=False)
    assert (browse.iterations, browse.dropped) == (8, 32)
    assert model.scenario_row("admin", "per-vu-iterations", 5.0, 8.0, finished=False).state == (
        "waiting"
    )
    assert model.scenario_row("buy", "ramping-vus", 0.0, 10.0, finished=True).state == "done"
    its = model.scenario_row("buy", "per-vu-iterations", 0.0, 600.0, finished=False, iterations=3)
    assert its.state == "done"  # its iterations are done, long before its maxDuration


def test_group_duration_per_path_over_the_run() -> None:
    model = RunModel(index=INDEX)
    model.add(_interval())
    model.add(_interval())
    stats = model.groups()
    assert list(stats) == ["::checkout"]
    assert (stats["::checkout"].count, stats["::checkout"].mean) == (6, 5.0)


def test_the_index_of_a_plan_names_its_scenarios_steps_and_setup() -> None:
    url = "http://127.0.0.1:9"
    browse = ScenarioPlan(
        "browse",
        ExecutorConfig(executor="constant-arrival-rate", rate=5, duration=4.0),
        requests=(prepare("list", "GET", url + "/", (), None),),
        tags=(("kind", "read"),),
    )
    buy = ScenarioPlan(
        "buy",
        ExecutorConfig(executor="per-vu-iterations", vus=2, iterations=3),
        flow=Flow("checkout", (Step("cart", "POST", Template.compile("/cart")),)),
        start_time=2.0,
    )
    login = Flow("setup", (Step("login", "POST", Template.compile("/login")),))
    work = WorkPlan(url, (browse, buy), setup=login, run_tags=(("team", "web"),))
    index = TagIndex.of_plan(work)
    assert index.tags(Level.REQUEST, "browse", "list") == {
        "team": "web",
        "kind": "read",
        "scenario": "browse",
        "group": "",
        "step": "list",
        "method": "GET",
    }
    assert index.tags(Level.REQUEST, "buy", "cart")["method"] == "POST"
    assert index.tags(Level.REQUEST, SETUP, "login") == {
        "team": "web",
        "group": "::setup",
        "step": "login",
        "method": "POST",
    }
    model = RunModel(index=index)
    rows = scenario_rows(model, work, finished=False)
    assert [(r.name, r.executor, r.state, r.start_time, r.end_time) for r in rows] == [
        ("browse", "constant-arrival-rate", "waiting", 0.0, 4.0),
        ("buy", "per-vu-iterations", "waiting", 2.0, 602.0),  # maxDuration: the bound
    ]
    assert scenario_rows(model, WorkPlan(url, (browse,)), finished=False) == ()
