"""k6's threshold grammar, plus windows: table tests."""

from __future__ import annotations

import pytest

from engine.errors import ConfigError
from engine.load.thresholds import (
    METRICS,
    parse_cli_threshold,
    parse_threshold,
    parse_thresholds,
)


@pytest.mark.parametrize(
    ("key", "expr", "metric", "tags", "agg", "pct", "op", "bound", "window"),
    [
        ("http_req_duration", "p(95)<500", "http_req_duration", (), "p", 95, "<", 500, None),
        (
            "http_req_duration",
            "p(99.9) <= 1e3",
            "http_req_duration",
            (),
            "p",
            99.9,
            "<=",
            1000,
            None,
        ),
        ("http_req_duration", "avg<200", "http_req_duration", (), "avg", None, "<", 200, None),
        ("http_req_duration", "med>=1", "http_req_duration", (), "med", None, ">=", 1, None),
        ("latency", "max < 3000", "latency", (), "max", None, "<", 3000, None),
        ("http_req_waiting", "p(90)<5", "http_req_waiting", (), "p", 90.0, "<", 5, None),
        ("http_req_failed", "rate<0.01", "http_req_failed", (), "rate", None, "<", 0.01, None),
        ("checks", "rate>0.99", "checks", (), "rate", None, ">", 0.99, None),
        ("http_reqs", "count>100", "http_reqs", (), "count", None, ">", 100, None),
        ("http_reqs", "rate===50", "http_reqs", (), "rate", None, "===", 50, None),
        ("vus", "value!=0", "vus", (), "value", None, "!=", 0, None),
        (
            "http_req_duration{step:login}",
            "p(95)<500 over 10s",
            "http_req_duration",
            (("step", "login"),),
            "p",
            95,
            "<",
            500,
            10.0,
        ),
        (
            "http_req_duration{name:home, upstream:green}",
            "p(99)<300 over 1m",
            "http_req_duration",
            (("step", "home"), ("upstream", "green")),
            "p",
            99,
            "<",
            300,
            60.0,
        ),
        (
            "checks{check:status is 200}",
            "rate==1",
            "checks",
            (("check", "status is 200"),),
            "rate",
            None,
            "==",
            1,
            None,
        ),
    ],
)
def test_grammar(key, expr, metric, tags, agg, pct, op, bound, window) -> None:
    th = parse_threshold(key, expr)
    assert (th.metric, th.tags, th.aggregation, th.percentile, th.op, th.bound, th.window_s) == (
        metric,
        tags,
        agg,
        pct,
        op,
        bound,
        window,
    )


@pytest.mark.parametrize(
    ("key", "expr", "message"),
    [
        ("http_req_duration", "p95<500", "bad threshold"),
        ("http_req_duration", "rate<0.1", "does not apply to a trend"),
        ("http_req_failed", "p(95)<1", "does not apply to a rate"),
        ("http_reqs", "avg<1", "does not apply to a counter"),
        ("nope", "rate<1", "unknown metric"),
        ("http_req_duration{step}", "p(95)<1", "bad tag"),
        ("http_req_duration{url:/x}", "p(95)<1", "cannot select by 'url': .* per step"),
        ("http_reqs{proto:HTTP/2.0}", "count>1", "per connection"),
        ("http_req_failed{error:dial}", "rate<1", "counted by kind"),
        ("http_req_duration{group:}", "p(95)<1", "bad tag"),
        ("http_req_duration{status:200}", "p(95)<1", "per status only for http_reqs"),
        ("checks{upstream:blue}", "rate>0", "per upstream only for requests"),
        ("iterations{step:a}", "count>0", "not kept per step"),
        ("dropped_iterations{method:GET}", "count>0", "not kept per step"),
        ("group_duration{name:a}", "avg<1", "not kept per step"),
        ("vus{scenario:a}", "value>0", "whole run"),
        ("http_req_waiting{group:::g}", "p(95)<1", "whole run"),
        ("http_req_duration", "p(101)<1", "outside 0..100"),
        ("http_req_duration", "p(95)<1 over soon", "bad window"),
        ("http_req_duration{check:a}", "p(95)<1", "only to the checks metric"),
        ("service_time", "p(95)<1", "now http_req_duration"),
        ("http_req_waiting{step:a}", "p(95)<1", "whole run: it takes no step tag"),
        ("latency{expected_response:true}", "p(95)<1", "applies to http_req_duration"),
        ("http_req_duration{expected_response:yes}", "p(95)<1", "true or false"),
    ],
)
def test_grammar_errors_name_the_problem(key: str, expr: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        parse_threshold(key, expr)
    assert err.value.key == key


@pytest.mark.parametrize(
    ("op", "observed", "ok"),
    [
        ("<", 1, True),
        ("<", 2, False),
        ("<=", 2, True),
        (">", 2, False),
        (">=", 2, True),
        ("==", 2, True),
        ("!=", 2, False),
    ],
)
def test_passes(op: str, observed: float, ok: bool) -> None:
    assert parse_threshold("http_req_duration", f"avg{op}2").passes(observed) is ok


def test_no_data_passes_as_in_k6() -> None:
    assert parse_threshold("http_req_duration{step:x}", "p(95)<1").passes(None)


def test_k6_object_form_with_abort_options() -> None:
    ths = parse_thresholds(
        {
            "http_req_duration": [
                "p(95)<500",
                {"threshold": "p(99)<900", "abortOnFail": True, "delayAbortEval": "10s"},
            ],
            "http_req_failed": "rate<0.01",
        }
    )
    assert [t.expression for t in ths] == ["p(95)<500", "p(99)<900", "rate<0.01"]
    assert ths[1].abort_on_fail and ths[1].delay_abort_eval_s == 10
    assert not ths[0].abort_on_fail


@pytest.mark.parametrize(
    "table",
    [
        {"http_req_duration": [{"threshold": "p(95)<1", "abortOnFaill": True}]},
        {"http_req_duration": [{"abortOnFail": True}]},
        {"http_req_duration": [{"threshold": "p(95)<1", "abortOnFail": "yes"}]},
        {"http_req_duration": 5},
    ],
)
def test_k6_object_form_errors(table) -> None:
    with pytest.raises(ConfigError):
        parse_thresholds(table)


def test_cli_form_splits_at_the_first_colon_outside_tags() -> None:
    th = parse_cli_threshold("http_req_duration{step:a:b}:p(95)<5")
    assert th.tags == (("step", "a:b"),)
    assert th.expression == "p(95)<5"
    with pytest.raises(ConfigError):
        parse_cli_threshold("http_req_duration")


@pytest.mark.parametrize(
    ("key", "metric", "tags"),
    [
        # k6's grammar: any tag name; split at the first colon; spaces and quotes trimmed
        ("http_reqs{kind:read}", "http_reqs", (("kind", "read"),)),
        ("http_reqs{group:::checkout}", "http_reqs", (("group", "::checkout"),)),
        ("group_duration{group:::a::b}", "group_duration", (("group", "::a::b"),)),
        ("http_reqs{ 'kind' : \"read\" }", "http_reqs", (("kind", "read"),)),
        (
            "http_reqs{scenario:browse,kind:read}",
            "http_reqs",
            (("scenario", "browse"), ("kind", "read")),
        ),
        ("http_reqs{kind:a,kind:b}", "http_reqs", (("kind", "b"),)),  # the last, as k6
        ("http_reqs{url2:x:y}", "http_reqs", (("url2", "x:y"),)),
        ("http_reqs{name:home}", "http_reqs", (("step", "home"),)),  # k6's name is the step
        ("http_reqs{status:200}", "http_reqs", (("status", "200"),)),
        ("http_reqs{method:POST}", "http_reqs", (("method", "POST"),)),
        ("dropped_iterations{scenario:browse}", "dropped_iterations", (("scenario", "browse"),)),
        ("dropped_iterations{kind:read}", "dropped_iterations", (("kind", "read"),)),
        ("iterations{scenario:admin}", "iterations", (("scenario", "admin"),)),
        ("checks{group:::g}", "checks", (("group", "::g"),)),
        ("vus{team:web}", "vus", (("team", "web"),)),  # a run tag: judged at plan time
    ],
)
def test_the_open_tag_grammar(key: str, metric: str, tags: tuple) -> None:
    any_value = {"trend": "max>=0", "rate": "rate>=0", "counter": "count>=0", "gauge": "value>=0"}
    th = parse_threshold(key, any_value[METRICS[metric]])
    assert (th.metric, th.tags) == (metric, tags)


def test_group_duration_is_a_trend() -> None:
    th = parse_threshold("group_duration{group:::checkout}", "p(95)<500")
    assert th.kind == "trend"
    with pytest.raises(ConfigError, match="does not apply to a trend"):
        parse_threshold("group_duration", "count>1")
