"""The server's side, pure parts: `[observe]` read with file:line:key errors, the
curated set and named metrics from prometheus-client's parser, counters as rates."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.observe.config import ObserveSpec, PromQuery, Selector, selector
from engine.observe.readings import Reading, curated, named, parse_text, rate_of
from engine.profile import ProfileError, parse_profile
from engine.profile.plan import Overrides, build_plan

HEAD = 'name = "p"\nbase_url = "http://127.0.0.1:8080"\n'

SUT_TEXT = """\
# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 1.5
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 4.2e+07
# TYPE sut_inflight gauge
sut_inflight 7.0
# TYPE sut_requests_total counter
sut_requests_total 1000.0
# TYPE http_requests_total counter
http_requests_total{code="200"} 90.0
http_requests_total{code="500"} 10.0
"""

NODE_TEXT = """\
# TYPE node_cpu_seconds_total counter
node_cpu_seconds_total{cpu="0",mode="idle"} 100
node_cpu_seconds_total{cpu="0",mode="user"} 30
node_cpu_seconds_total{cpu="1",mode="system"} 12
node_cpu_seconds_total{cpu="1",mode="iowait"} 5
# TYPE node_memory_MemTotal_bytes gauge
node_memory_MemTotal_bytes 8e9
# TYPE node_memory_MemAvailable_bytes gauge
node_memory_MemAvailable_bytes 6e9
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 0.5
"""


def test_observe_table_reads_targets_metrics_and_query() -> None:
    text = HEAD + (
        "[observe]\n"
        'targets = ["http://127.0.0.1:9100", "http://127.0.0.1:8080/metrics"]\n'
        'metrics = ["sut_inflight"]\n'
        'query = { url = "http://127.0.0.1:9090/", exprs = { cpu = "rate(x[15s])" } }\n'
    )
    spec = parse_profile(text, "p.toml").observe
    assert spec == ObserveSpec(
        ("http://127.0.0.1:9100/metrics", "http://127.0.0.1:8080/metrics"),
        ("sut_inflight",),
        PromQuery("http://127.0.0.1:9090", (("cpu", "rate(x[15s])"),)),
    )


def test_observe_flag_adds_targets_to_the_plan() -> None:
    profile = parse_profile(HEAD + '[observe]\ntargets = ["http://127.0.0.1:9100"]\n', "p.toml")
    more = ("http://127.0.0.1:8080/metrics", "http://127.0.0.1:9100/metrics")
    plan = build_plan(profile, Overrides(observe=more))
    assert plan.observe.targets == ("http://127.0.0.1:9100/metrics", more[0])
    assert not build_plan(parse_profile(HEAD, "p.toml"), Overrides()).observe


@pytest.mark.parametrize(
    ("table", "line", "key", "message"),
    [
        ('targets = ["ftp://x"]', 4, "observe.targets[0]", "http:// or https://"),
        ("targets = 3", 4, "observe.targets", "expected a list"),
        ('targets = ["http://h:1"]\nmetrics = ["bad name"]', 5, "observe.metrics[0]", "metric"),
        ('targets = ["http://h:1"]\nmetrics = ["x{a=1}"]', 5, "observe.metrics[0]", 'label="'),
        ('query = { url = "http://h:9090" }', 4, "observe.query.exprs", "required"),
        (
            'query = { url = "http://h", exprs = { "a b" = "up" } }',
            4,
            'observe.query.exprs."a b"',
            "letters",
        ),
        ("metrics = []", 3, "observe", "give targets"),
        ('target = ["http://h"]', 4, "observe.target", "did you mean"),
    ],
)
def test_bad_observe_names_file_line_and_key(table: str, line: int, key: str, message: str) -> None:
    with pytest.raises(ProfileError) as info:
        parse_profile(HEAD + "[observe]\n" + table + "\n", "p.toml")
    err = info.value
    assert (err.line, err.key) == (line, key)
    assert message in err.message


def test_curated_set_of_an_application() -> None:
    readings = {r.name: r for r in curated(parse_text(SUT_TEXT))}
    assert readings["cpu"] == Reading("cpu", 1.5, "%", True, 100.0)
    assert readings["memory"].value == 42e6
    assert readings["inflight"] == Reading("inflight", 7.0)
    assert readings["requests"].counter
    assert "gc" not in readings and "host_cpu" not in readings  # not exposed: not made up


def test_curated_set_of_node_exporter_is_the_host() -> None:
    readings = {r.name: r for r in curated(parse_text(NODE_TEXT))}
    assert set(readings) == {"host_cpu", "host_memory"}  # not node_exporter's own process
    assert readings["host_cpu"].value == 42  # user + system, idle and iowait left out
    assert readings["host_memory"].value == 2e9


def test_named_metrics_sum_label_sets_and_know_counters() -> None:
    scrape = parse_text(SUT_TEXT)
    got = named(scrape, ["http_requests", "sut_inflight", "sut_requests_total", "absent"])
    assert got == [
        Reading("http_requests", 100.0, "/s", True),
        Reading("sut_inflight", 7.0),
        Reading("sut_requests_total", 1000.0, "/s", True),
    ]


def test_selectors_narrow_label_sets_as_promql_does() -> None:
    scrape = parse_text(NODE_TEXT + SUT_TEXT)
    texts = [
        'node_cpu_seconds_total{mode="user"}',
        'node_cpu_seconds{mode!="idle", cpu="1"}',
        'http_requests_total{code="500"}',
        'http_requests_total{code="404"}',  # no label set matches: no reading
    ]
    assert named(scrape, texts) == [
        Reading(texts[0], 30.0, "/s", True),
        Reading(texts[1], 17.0, "/s", True),
        Reading(texts[2], 10.0, "/s", True),
    ]
    assert selector(r'x{path="a\"b", code!="2"}') == Selector(
        "x", (("path", "=", 'a"b'), ("code", "!=", "2"))
    )
    for bad in ("x{code=200}", "x{", "1x", 'x{a="b" c="d"}'):
        with pytest.raises(ValueError):
            selector(bad)


@pytest.mark.parametrize(
    ("before", "now", "rate"),
    [(None, (1.0, 5.0), None), ((1.0, 5.0), (3.0, 9.0), 2.0), ((1.0, 5.0), (2.0, 1.0), None)],
)
def test_counter_rates(
    before: tuple[float, float] | None, now: tuple[float, float], rate: float | None
) -> None:
    assert rate_of(before, now) == rate


def test_the_readme_example_reads() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### The server's side: `[observe]`")[1]
    example = section.split("```toml\n")[1].split("```")[0]
    spec = parse_profile(HEAD + example, "README.md").observe
    assert spec.targets[1] == "http://127.0.0.1:9100/metrics"
    assert spec.query is not None and spec.query.exprs[0][0] == "cpu"
