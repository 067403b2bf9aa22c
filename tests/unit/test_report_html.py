"""The HTML report's page, without a browser: its figures, sections, size and escaping.

The page's figures must read as `surge report show` prints them (a reader compares
the two), it must fetch nothing when opened, stay under ~1 MB for a 10-minute run, and
no string of the report may become markup. The browser's view is tests/integration's.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from html.parser import HTMLParser
from importlib.resources import files
from pathlib import Path

import pytest

from engine.explore.model import CapacityResult, CapacityStep, Insight, InsightKind
from engine.load.metrics import decode_histogram
from engine.load.model import LatencyStats
from engine.load.steering import Steer, SteeringEvent
from engine.observe.series import Series
from engine.report.compare import compare, format_change
from engine.report.deploy_section import ColorWindow, DeployRecord, Outcome, StepRow
from engine.report.document import read_report
from engine.report.html import ASSETS, render_html, write_html
from engine.report.html.payload import HISTOGRAM_BINS, TIMELINE_COLUMNS, build_payload
from engine.report.model import Checks, GroupSection, Report, ScenarioSection, Section
from engine.report.summary import histogram_bins, render_report
from engine.report.text import ms_cell

MB = 1_000_000
# tests/report_fixtures.py's two runs of the shop a week apart (read here by path: that
# module imports the app's tests, which would cost this file seconds of Textual imports).
REPORTS = Path(__file__).parents[1] / "fixtures" / "reports"
BASE, NEW = REPORTS / "shop-base.toml", REPORTS / "shop-new.toml"


@pytest.fixture(scope="module")
def new() -> Report:
    return read_report(NEW)


@pytest.fixture(scope="module")
def base() -> Report:
    return read_report(BASE)


class Page(HTMLParser):
    """A page's elements that tests read: attributes by name, and the text inside."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.open: list[tuple[str, dict[str, str]]] = []
        self.found: list[tuple[str, dict[str, str], str]] = []
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: dict[int, list[str]] = {}
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append((tag, a))
        if tag not in ("meta", "br", "input"):
            self.open.append((tag, a))
            for i in range(len(self.open)):
                self.text.setdefault(i, [])

    def handle_endtag(self, tag: str) -> None:
        while self.open:
            t, a = self.open.pop()
            self.found.append((t, a, "".join(self.text.pop(len(self.open), []))))
            if t == tag:
                break

    def handle_data(self, data: str) -> None:
        for parts in self.text.values():
            parts.append(data)

    def by(self, attr: str) -> dict[str, tuple[dict[str, str], str]]:
        """Elements carrying `attr`, by its value: (attributes, text)."""
        return {a[attr]: (a, text) for _, a, text in self.found if attr in a}

    def figures(self) -> dict[str, str]:
        return {name: text for name, (_, text) in self.by("data-figure").items()}


# ------------------------------------------------------------------ the package


def test_the_assets_are_package_data_uplot_with_its_licence() -> None:
    folder = files("engine.report.html") / "assets"
    for name in ASSETS:
        assert (folder / name).is_file(), name
    assert "MIT License" in (folder / "uplot" / "LICENSE").read_text()
    assert "uPlot" in (folder / "uplot" / "uPlot.iife.min.js").read_text()[:200]


def test_pyproject_ships_the_assets() -> None:
    text = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert '"engine.report.html" = ["assets/*' in text


# ------------------------------------------------------------------ the figures


def test_headline_figures_read_as_report_show_prints_them(new: Report) -> None:
    s = new.summary
    figures = Page(render_html(new)).figures()
    d = s.http_req_duration
    assert figures["requests"] == f"{s.requests:,}"
    assert figures["p50"] == ms_cell(d.p50)
    assert figures["p95"] == ms_cell(d.p95)
    assert figures["p99"] == ms_cell(d.p99)
    assert figures["iterations"] == f"{s.iterations:,}"
    assert figures["vus_max"] == f"{s.vus_max:,}"
    assert figures["exit_code"] == str(new.meta.exit_code)
    assert figures["ended"] == "finished"
    shown = render_report(new)  # the same words in `surge report show`'s lines
    assert f": {figures['requests']} {figures['rps']}/s" in shown
    assert f": {figures['error_rate']} {s.failed:,} out of" in shown
    row = next(line for line in shown.splitlines() if line.strip().startswith("http_req_duration"))
    assert [figures[k] for k in ("p50", "p95", "p99")] == row.split()[3:4] + row.split()[5:7]
    assert "1 of 2 thresholds failed (latency); exit code 99" in figures["verdict"]


def test_thresholds_carry_their_verdicts(new: Report) -> None:
    rows = Page(render_html(new)).by("data-threshold")
    want = {f"{t.metric}: {t.expression}": "pass" if t.ok else "fail" for t in new.thresholds}
    assert {k: a["data-verdict"] for k, (a, _) in rows.items()} == want
    assert "fail" in want.values()  # the fixture's new run misses its p95
    assert "p(95)=" in rows["latency: p(95)<6"][1]


def test_payload_is_the_reports_timeline_and_histogram(new: Report) -> None:
    data = build_payload(new)
    assert set(data["timeline"]) == set(TIMELINE_COLUMNS)
    for key in TIMELINE_COLUMNS:
        got = data["timeline"][key]
        assert got == pytest.approx([getattr(r, key) for r in new.timeline], rel=1e-3, abs=1e-6)
    assert new.histograms is not None and new.histograms.total is not None
    h = decode_histogram(new.histograms.total.http_req_duration or "")
    bins = histogram_bins(h, HISTOGRAM_BINS)
    assert data["histogram"]["count"] == [n for _, n in bins]
    assert sum(data["histogram"]["count"]) == new.summary.requests
    assert data["base"] is None and data["deploy"] is None


# ------------------------------------------------------------------ self-contained

EXTERNAL = re.compile(
    r"""(?:\b(?:src|href|action|poster)\s*=\s*["']?\s*(?!#)[a-z]*:?//)"""
    r"""|url\(\s*["']?\s*(?!data:)[^)#]"""
    r"""|@import|<link\b|<iframe\b""",
    re.I,
)


def test_the_page_fetches_nothing(new: Report, base: Report) -> None:
    text = render_html(new, base=base)
    assert not EXTERNAL.findall(text)
    page = Page(text)
    scripts = [a for t, a in page.tags if t == "script"]
    assert scripts == [{"type": "application/json", "id": "surge-data"}, {}]  # inline, no src
    assert not [a for t, a in page.tags if t in ("img", "link", "iframe") or "src" in a]


def test_write_html_is_atomic_and_whole(new: Report, tmp_path: Path) -> None:
    path = write_html(new, tmp_path / "out" / "run.html")
    assert path.read_text(encoding="utf-8") == render_html(new)
    assert [p.name for p in path.parent.iterdir()] == ["run.html"]  # no temp file left


# ------------------------------------------------------------------ escaping

NASTY = '<script>alert("x")</script><!--'


def test_no_string_of_the_report_becomes_markup(new: Report) -> None:
    step = Section(requests=3, failed=1, error_rate=1 / 3)
    report = replace(
        new,
        meta=replace(new.meta, name=NASTY, target=f"http://x/{NASTY}", error=NASTY),
        steps={NASTY: step, "plain": step},
        upstreams={NASTY: step},
        summary=replace(new.summary, status={NASTY: 3}, errors={NASTY: 1}),
        observe={NASTY: Series(NASTY, NASTY, NASTY, (1.0, 2.0), (3.0, 4.0), NASTY)},
        insights=(Insight(InsightKind.ERRORS, 3.0, None, NASTY),),
    )
    text = render_html(report, base=new, base_name=NASTY)
    page = Page(text)
    assert [t for t, _ in page.tags].count("script") == 2  # the payload and the page's own
    assert text.count("<!--") == text.count("<!--surge") == 0  # no comment opened either
    payload = text.split('<script type="application/json" id="surge-data">')[1]
    payload = payload.split("</script>")[0]
    assert json.loads(payload)["observe"][0]["name"] == NASTY  # intact once parsed
    assert NASTY in page.by("data-error")  # shown as text, where it belongs
    assert f"error: {NASTY}" in {text for _, _, text in page.found}
    assert page.figures()["ended"] == "finished"


# ------------------------------------------------------------------ size


def test_a_ten_minute_run_is_under_a_megabyte(new: Report) -> None:
    """600 one-second rows, eight steps, three upstreams, server-side series, a rollout."""
    rows = [replace(new.timeline[i % len(new.timeline)], t=float(i + 1)) for i in range(600)]
    step = new.steps["home"]
    report = replace(
        new,
        meta=replace(new.meta, duration_s=600.0),
        timeline=tuple(rows),
        steps={f"step {i}": step for i in range(8)},
        upstreams={f"10.0.0.{i}:8080": step for i in range(3)},
        observe={
            n: Series(n, "127.0.0.1:9100", "%", tuple(range(600)), tuple(x / 7 for x in range(600)))
            for n in ("cpu", "memory", "rps")
        },
        deploy=rollout(new, windows=40),
    )
    assert len(render_html(report).encode()) < MB
    assert len(render_html(report, base=report).encode()) < MB


# ------------------------------------------------------------------ sections


def rollout(
    report: Report, windows: int = 3, outcome: Outcome = Outcome.ROLLED_BACK
) -> DeployRecord:
    window = ColorWindow(requests=100, failed=1, p50_ms=2.0, p95_ms=5.0, p99_ms=9.0)
    verdicts = ["passed"] * (windows - 1) + ["failed"]
    return DeployRecord(
        strategy="canary",
        router="surge-proxy",
        start=report.meta.start.replace("12:00:00", "12:00:02"),
        end=report.meta.start.replace("12:00:00", "12:00:11"),
        outcome=outcome,
        blue_weight=100,
        green_weight=0,
        steps=tuple(
            StepRow(2.0 * (i + 1), i, 100 - 10 * i, 10 * i, 2.0, window, window, v, f"why {i}")
            for i, v in enumerate(verdicts)
        ),
    )


def test_a_rollout_shows_its_outcome_and_windows_on_the_run_axis(new: Report) -> None:
    report = replace(new, deploy=rollout(new))
    text = render_html(report)
    page = Page(text)
    assert page.figures()["rollout"] == "rolled back"
    assert "rollout rolled back" in page.figures()["verdict"]
    windows = page.by("data-window")
    assert [a["data-verdict"] for a, _ in windows.values()] == ["passed", "passed", "failed"]
    assert 'data-chart="deploy"' in text
    deploy = build_payload(report)["deploy"]
    # the rollout started 2 s into the run: its first window (ending 2 s in) is 2-4 s
    assert deploy["windows"][0] == {
        "start": 2,
        "end": 4,
        "green": 0,
        "verdict": "passed",
        "step": 0,
    }


def test_a_comparison_shows_every_change_report_compare_judges(new: Report, base: Report) -> None:
    page = Page(render_html(new, base=base, base_name="last week"))
    result = compare(base, new)
    changes = page.by("data-change")
    assert {k: text for k, (_, text) in changes.items()} == {
        r.label: format_change(r) for r in result.rows
    }
    assert page.figures()["compare"] == result.verdict
    payload = build_payload(new, base)
    assert payload["base"]["timeline"]["t"] == [r.t for r in base.timeline]
    assert "Compared with last week" in " ".join(t for tag, _, t in page.found if tag == "h2")


def test_a_plain_run_has_no_rollout_comparison_or_capacity(new: Report) -> None:
    text = render_html(new)
    for name in ("rollout", "compare", "capacity", "server"):
        assert f'id="{name}"' not in text


def test_capacity_insights_and_steering_where_the_report_has_them(new: Report) -> None:
    step = CapacityStep(rate=100.0, held=True, achieved_rate=99.5, p95=4.0, p99=8.0)
    steps = (step, replace(step, rate=200.0, held=False, p95=40.0))
    report = replace(
        new,
        capacity=CapacityResult(100.0, 200.0, 0.05, steps),
        insights=(Insight(InsightKind.KNEE, 5.0, 150.0, "latency bends up at 150/s"),),
        meta=replace(new.meta, steering=(SteeringEvent(4.0, Steer.TARGET, 10.0, 20.0),)),
    )
    page = Page(render_html(report))
    assert page.figures()["capacity"].startswith("holds 100/s")
    assert "knee" in page.by("data-insight")
    assert build_payload(report)["marks"] == [4]
    assert build_payload(report)["insights"] == [{"at": 5, "kind": "knee"}]
    assert [c for c in page.by("data-chart")] == [
        "latency", "rps", "errors", "vus", "histogram", "capacity",
    ]  # fmt: skip


def test_a_scenario_flow_shows_its_scenarios_groups_and_checks(new: Report) -> None:
    stats = LatencyStats(p95=12.0, p99=20.0, max=30.0)
    flow = ScenarioSection(
        requests=500, rps=50.0, http_req_duration=stats, latency=stats, executor="constant-vus",
        iterations=100, checks={"cart ok": Checks(98, 2)},
    )  # fmt: skip
    report = replace(
        new,
        scenarios={"browse": flow, "buy": replace(flow, rps=10.0, iterations=20)},
        groups={"::checkout": GroupSection(requests=40, group_duration=stats)},
        checks={"status 200": Checks(500, 0)},
    )
    page = Page(render_html(replace(report, meta=replace(new.meta, executor="scenarios"))))
    assert "2 scenarios: browse, buy" in page.by("class")["facts"][1]
    rows = page.by("data-table")["scenario"][1]
    assert "browse" in rows and "constant-vus" in rows and ms_cell(12.0) in rows
    assert "group ::checkout" in page.by("data-table")["trends"][1]
    checks = {k: a["data-verdict"] for k, (a, _) in page.by("data-check").items()}
    assert checks == {"status 200": "pass", "cart ok": "fail"}
    slower = replace(report, scenarios={"browse": flow, "buy": replace(flow, rps=20.0)})
    changes = Page(render_html(report, base=slower)).by("data-change")
    assert changes["scenario buy rps"][1] == "-50.0%"


def test_a_chart_only_where_its_data_is(new: Report) -> None:
    """The script draws charts from the payload: the page places exactly those."""
    quiet = Series("disk", "127.0.0.1:9100", "bytes")  # never answered: no points
    cpu = Series("cpu", "127.0.0.1:9100", "%", (1.0, 2.0), (10.0, 20.0))
    assert new.histograms is not None and new.histograms.total is not None
    histograms = replace(
        new.histograms, total=replace(new.histograms.total, http_req_duration=None)
    )
    report = replace(new, observe={"disk": quiet, "cpu": cpu}, histograms=histograms)
    page = Page(render_html(report))
    assert list(page.by("data-chart")) == ["latency", "rps", "errors", "vus", "observe-0"]
    assert [s["name"] for s in build_payload(report)["observe"]] == ["cpu"]
    assert "disk" in page.by("data-table")["observe"][1]  # in the table still


def test_the_warnings_report_show_prints_are_on_the_page(new: Report) -> None:
    s = new.summary
    down = replace(s, failed=s.requests, errors={"connection refused": s.requests})
    report = replace(new, summary=down, meta=replace(new.meta, stop_reason="threshold abort"))
    text = render_html(report)
    assert f"all {s.requests:,} requests failed: connection refused at 127.0.0.1:9" in text
    assert "stopped:</strong> threshold abort" in text
