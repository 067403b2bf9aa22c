"""The HTML report in a real browser: headless Chromium (Debian's, driven by Playwright)
opens each page with the network off and reads what it drew.

Five pages, each made by the real commands: a plain run (`surge report html`
on its TOML), a run of scenarios and a group (`--out html=`), a rollout through the
real proxy in front of two `surge sut` colors (`--out html=`), a run stopped by
SIGTERM (`--out html=`: a stopped run still ends with its page), and a comparison
(`surge report html NEW --compare BASE`, the report fixtures). The runs go at once,
seconds long; one browser for the module, a fresh offline context per page.

Every page: no request but file:// attempted (every other one is blocked, and counted),
no console error and no page error, drawn (`body[data-ready="1"]`), and its figures
(request count, p99, every threshold's verdict, how the run ended, its exit code, the
rollout's outcome) equal to the TOML report's. Then a chart's hover and zoom, the PDF
(`chromium --print-to-pdf`, read back with pdftotext) and Tab through the page.

    SURGE_HTML_SHOTS=screenshots .venv/bin/pytest tests/integration/test_html_report.py
(scripts/screenshots-html.sh) keeps the screenshots of the plain run and the rollout (then
longer) for the README; by default they go to the test's temporary folder.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from engine.exit_codes import EXIT_ROLLED_BACK, EXIT_THRESHOLDS
from engine.outputs import parse_out
from engine.report.compare import compare, format_change
from engine.report.document import read_report
from engine.report.model import Report
from engine.report.text import ms_cell
from tests.conftest import ROOT, surge_cmd
from tests.integration.routers import require
from tests.integration.test_lost_runs import start_run, wait_for_progress
from tests.integration.test_report_scenarios_run import PROFILE as SCENARIOS
from tests.integration.test_rollout_record import write_profile
from tests.report_fixtures import BASE, NEW
from tui.cli.demo_stack import DemoStack
from tui.cli.main import main

CHROMIUM = shutil.which("chromium")
PDFTOTEXT = shutil.which("pdftotext")
READY = 'body[data-ready="1"]'
SHOTS = {"plain": "html-run.png", "rollout": "html-rollout.png"}  # kept for the README
SHOTS_TO = os.environ.get("SURGE_HTML_SHOTS")
# The plain run 2 s, the rollout 3 s (1 s windows); for the README's screenshots longer:
# 10 s of a ramp up and down, and 8 s of load around a rollout judged in 2 s windows.
PLAIN_LOAD = (
    ("--rate", "20", "--stages", "3s:300,4s:300,3s:20")
    if SHOTS_TO
    else ("--rate", "50", "-d", "2s")
)
ROLLOUT_LOAD, WINDOW = (
    (("--rate", "100", "-d", "8s"), "2s") if SHOTS_TO else (("--rate", "100", "-d", "3s"), "1s")
)
VIEW = {"width": 1280, "height": 960}
# The first test waits for four runs at once: room for a busy machine (pytest-timeout
# counts the module's fixtures in that test).
pytestmark = pytest.mark.timeout(120)


@dataclass(frozen=True)
class Made:
    """A report's TOML and the page made of it (a comparison: with its base)."""

    toml: Path
    html: Path
    base: Path | None = None
    exit_code: int = 0  # what the command that made it exited with


def popen(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        surge_cmd(*args),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )


def surge(*args: str) -> tuple[int, str, str]:
    """The command in this process (no interpreter to start): its code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def finished(proc: subprocess.Popen[str], timeout: float = 40) -> int:
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in (0, 1, EXIT_THRESHOLDS, EXIT_ROLLED_BACK), out + err
    return proc.returncode


@pytest.fixture(scope="module")
def made(shared_sut: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Made]:
    """Every kind of report, its runs at once (seconds: the rollout's 3 s the longest)."""
    work = tmp_path_factory.mktemp("html")
    plain, flow, rollout, stopped = (work / f"{n}.toml" for n in ("plain", "flow", "ro", "stop"))
    (work / "flow-profile.toml").write_text(SCENARIOS, encoding="utf-8")
    compared = work / "compared.html"
    assert surge("report", "html", str(NEW), "--compare", str(BASE), "-o", str(compared))[0] == 0
    runs = {
        plain: popen(
            "run", shared_sut + "/", *PLAIN_LOAD, "--report", str(plain),
            "--threshold", "http_req_duration:p(95)<2000", "--threshold", "http_reqs:count<3",
        ),
        flow: popen(
            "run", str(work / "flow-profile.toml"), "--base-url", shared_sut,
            "--report", str(flow), "--out", f"html={flow.with_suffix('.html')}",
        ),
    }  # fmt: skip
    cut = start_run(
        shared_sut + "/", "--rate", "50", "-d", "60s", "--report", str(stopped),
        "--out", f"html={stopped.with_suffix('.html')}",
    )  # fmt: skip
    with DemoStack("errors") as stack:
        runs[rollout] = popen(
            "run", str(write_profile(work, stack, interval=WINDOW)), *ROLLOUT_LOAD,
            "--report", str(rollout), "--out", f"html={rollout.with_suffix('.html')}",
        )  # fmt: skip
        try:
            wait_for_progress(cut)
            cut.send_signal(signal.SIGTERM)
        finally:
            codes = {toml: finished(proc) for toml, proc in runs.items()}
            codes[stopped] = finished(cut)
    said = surge("report", "html", str(plain))  # the default: beside it, with .html
    assert said == (0, f"  html report written to {plain.with_suffix('.html')}\n", "")
    return {
        "plain": Made(plain, plain.with_suffix(".html"), exit_code=codes[plain]),
        "flow": Made(flow, flow.with_suffix(".html"), exit_code=codes[flow]),
        "rollout": Made(rollout, rollout.with_suffix(".html"), exit_code=codes[rollout]),
        "stopped": Made(stopped, stopped.with_suffix(".html"), exit_code=codes[stopped]),
        "compare": Made(NEW, compared, base=BASE),
    }


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module (its start is the slow part, about 1 s)."""
    chromium = require("chromium", CHROMIUM)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=chromium)
        yield launched
        launched.close()


@dataclass
class Rendered:
    """What the page drew, read back from the browser."""

    figures: dict[str, str]
    thresholds: dict[str, str]  # "metric: expression" -> pass | fail
    changes: dict[str, str]  # a compared figure -> its change as shown
    errors: list[str]  # console errors and uncaught exceptions
    tried: list[str]  # every request that was not for a local file
    page: Any  # the live page (closed with its context at the end of the test)


@pytest.fixture
def open_page(browser: Any) -> Iterator[Any]:
    """`open_page(path)`: the page drawn in a fresh offline context, read back."""
    contexts: list[Any] = []

    def opened(path: Path) -> Rendered:
        context = browser.new_context(offline=True, viewport=VIEW)
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        tried: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("request", lambda r: None if local(r.url) else tried.append(r.url))
        context.route(re.compile(r"^(?!file:|data:|blob:)"), lambda route: route.abort())
        page.goto(path.as_uri())
        page.wait_for_selector(READY, state="attached", timeout=15_000)
        pairs = "els => els.map(e => [e.dataset.%s, e.%s.trim()])"
        figures = page.eval_on_selector_all("[data-figure]", pairs % ("figure", "textContent"))
        thresholds = page.eval_on_selector_all(
            "[data-threshold]", "els => els.map(e => [e.dataset.threshold, e.dataset.verdict])"
        )
        changes = page.eval_on_selector_all("[data-change]", pairs % ("change", "textContent"))
        return Rendered(dict(figures), dict(thresholds), dict(changes), errors, tried, page)

    yield opened
    for context in contexts:
        context.close()


def local(url: str) -> bool:
    return url.startswith(("file:", "data:", "blob:"))


def ms(text: str) -> tuple[float, float]:
    """A latency as shown (`6.61ms`, `850µs`, `1.20s`, `6.61`: ms) in ms, and the half of
    its last digit's place (what rounding for display may have moved it by)."""
    found = re.search(r"([0-9][0-9,]*(?:\.([0-9]+))?)\s*(µs|us|ms|s)?\b", text)
    assert found, text
    number, decimals, unit = found.groups()
    scale = {"µs": 0.001, "us": 0.001, "s": 1000.0}.get(unit or "ms", 1.0)
    half = 0.5 * 10 ** -len(decimals or "") * scale
    return float(number.replace(",", "")) * scale, half


def assert_figures_are_the_tomls(shown: Rendered, report: Report) -> None:
    """The page's figures are the TOML report's, as `surge report show` prints them."""
    s, meta, figures = report.summary, report.meta, shown.figures
    assert figures["requests"] == f"{s.requests:,}", figures
    assert figures["p99"] == ms_cell(s.http_req_duration.p99), (figures, s.http_req_duration)
    verdicts = {
        f"{t.metric}: {t.expression}": "pass" if t.ok else "fail" for t in report.thresholds
    }
    assert shown.thresholds == verdicts
    assert figures["ended"] == meta.ended
    assert figures["exit_code"] == ("–" if meta.exit_code is None else str(meta.exit_code))
    if report.deploy is not None:
        assert figures["rollout"] == report.deploy.outcome.value.replace("_", " ")


@pytest.mark.parametrize("kind", ["plain", "flow", "rollout", "stopped", "compare"])
def test_each_kind_of_report_renders_offline_with_the_tomls_figures(
    made: dict[str, Made], open_page: Any, kind: str, tmp_path: Path
) -> None:
    report = made[kind]
    shown = open_page(report.html)
    assert shown.tried == [] and shown.errors == []
    data = read_report(report.toml)
    assert_figures_are_the_tomls(shown, data)
    if kind in SHOTS:
        folder = Path(SHOTS_TO or tmp_path)
        shown.page.screenshot(path=str(folder / SHOTS[kind]))
    if kind == "plain":  # http_reqs:count<3 failed, as the page says
        assert report.exit_code == EXIT_THRESHOLDS == data.meta.exit_code
    if kind == "rollout":
        assert report.exit_code == EXIT_ROLLED_BACK == data.meta.exit_code
    if kind == "stopped":
        assert data.meta.aborted and data.meta.stop_reason == "terminated (SIGTERM)"
    if kind == "flow":
        assert {"browse", "buy"} <= set(data.scenarios) and "::basket" in data.groups


def test_the_page_reader_sees_a_fetch_and_an_error(open_page: Any, tmp_path: Path) -> None:
    """The checks above are not vacuous: a page that asks the network for an image and
    throws is caught on both counts (and the image never loads)."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<img src="http://192.0.2.1/x.png"><script>document.body.dataset.ready = "1";'
        'console.error("boom"); null.x;</script>',
        encoding="utf-8",
    )
    shown = open_page(page)
    assert shown.tried == ["http://192.0.2.1/x.png"]
    assert shown.errors[0] == "boom" and "null" in shown.errors[1]


def test_a_comparison_shows_each_figure_with_its_change_as_report_compare_does(
    made: dict[str, Made], open_page: Any
) -> None:
    shown = open_page(made["compare"].html)
    judged = compare(read_report(BASE), read_report(NEW))
    assert shown.changes == {row.label: format_change(row) for row in judged.rows}
    assert shown.figures["compare"] == judged.verdict
    assert "shop-base.toml" in shown.page.title()  # the base named as given
    assert open_page(made["plain"].html).changes == {}  # no base, no change shown


def test_the_page_prints_to_pdf_with_its_verdict_p99_and_request_count(
    made: dict[str, Made], open_page: Any, tmp_path: Path
) -> None:
    """Chromium's own --print-to-pdf (what a user runs), read back with pdftotext."""
    chromium = require("chromium", CHROMIUM)
    pdftotext = require("pdftotext", PDFTOTEXT)
    page = made["rollout"].html
    shown = open_page(page)
    pdf = tmp_path / "report.pdf"
    subprocess.run(
        [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}", page.as_uri(),
        ],
        capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    text = subprocess.run(
        [pdftotext, "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    squeezed = " ".join(text.split())
    for figure in ("verdict", "requests", "p99", "rollout"):
        assert " ".join(shown.figures[figure].split()) in squeezed, (figure, squeezed[:2000])
    assert "rolled back" in squeezed.lower()


def test_a_chart_answers_hover_with_the_rows_figures_and_a_drag_with_a_zoom(
    made: dict[str, Made], open_page: Any
) -> None:
    """The latency chart of the comparison (12 s a run): hovering its left edge shows the
    first interval's p99 and the base's beside it; a drag zooms in (the left edge is then
    later in the run); a double click zooms out again."""
    report = made["compare"]
    page = open_page(report.html).page
    chart = 'figure[data-chart="latency"]'
    labels = page.locator(f"{chart} .u-legend .u-label").all_text_contents()
    values = page.locator(f"{chart} .u-legend .u-value")
    box = page.locator(f"{chart} .u-over").bounding_box()
    y = box["y"] + box["height"] / 2

    def at(share: float) -> list[str]:
        page.mouse.move(box["x"] + 2 + (box["width"] - 4) * share, y)
        return values.all_text_contents()

    first = at(0)
    for label, source in (("p99", report.toml), ("p99 (base)", report.base)):
        assert source is not None
        shown, half = ms(first[labels.index(label)])
        assert abs(shown - read_report(source).timeline[0].p99) <= half * 1.001, (label, first)
    page.mouse.move(box["x"] + box["width"] * 0.4, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.7, y, steps=5)
    page.mouse.up()
    assert at(0)[0] != first[0]  # the time at the left edge: later in the run
    page.mouse.dblclick(box["x"] + box["width"] / 2, y)
    assert at(0) == first


FOCUSED = """() => {
    const e = document.activeElement;
    const chart = e.tagName === "SUMMARY" ? e.closest("figure[data-chart]") : null;
    const region = e.matches('[role="region"]') && e.querySelector("table") ? e : null;
    return {skip: e.matches("a.skip"), chart: chart ? chart.dataset.chart : null,
            table: region ? region.getAttribute("aria-label") : null};
}"""


def test_tab_reaches_the_tables_and_the_charts_text_alternatives(
    made: dict[str, Made], open_page: Any
) -> None:
    """From the top, Tab alone: the skip link first, then each chart's table alternative
    (Enter opens it: the timeline's rows as a table) and every table."""
    report = made["rollout"]
    page = open_page(report.html).page
    reached: list[dict[str, Any]] = []
    for _ in range(80):
        page.keyboard.press("Tab")
        reached.append(page.evaluate(FOCUSED))
    assert reached[0]["skip"], reached[0]
    charts = [r["chart"] for r in reached if r["chart"]]
    tables = [r["table"] for r in reached if r["table"]]
    assert {"latency", "rps", "deploy"} <= set(charts), charts
    assert len(tables) >= 3, tables  # thresholds, the rollout's windows, status...
    for _ in range(80):  # back to the latency chart's alternative
        if page.evaluate(FOCUSED)["chart"] == "latency":
            break
        page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    rows = page.locator('figure[data-chart="latency"] details[open] table tbody tr')
    assert rows.count() == len(read_report(report.toml).timeline)


def test_the_command_says_its_usage_and_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["report", "html", "--help"])
    usage = " ".join(capsys.readouterr().out.split())
    assert "surge report html [-h] [--compare BASE] [-o FILE] REPORT" in usage
    assert "default: REPORT with .html" in usage
    code, _, err = surge("report", "html", str(tmp_path / "nope.toml"))
    assert (code, err) == (2, f"surge report: error: {tmp_path / 'nope.toml'}: no such file\n")
    code, _, err = surge("report", "html", str(NEW), "-o", str(tmp_path))
    assert (code, err) == (
        2,
        f"surge report: error: {tmp_path}: is a folder (give a file name, e.g. reports/run.html)\n",
    )
    code, _, err = surge("run", "http://127.0.0.1:9/", "-d", "1s", "--out", f"html={tmp_path}")
    assert code == 2 and f"html={tmp_path}: is a folder" in err and len(err.splitlines()) == 1
    assert not list(tmp_path.iterdir())  # nothing written, no run


def test_a_page_that_cannot_be_written_at_the_end_is_a_warning_not_a_lost_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The folder was fine at the start and is a file by the end: the run and its TOML
    report stand, the page is one warning line."""
    target = tmp_path / "gone" / "run.html"
    output = parse_out(f"html={target}")
    output.start()
    (tmp_path / "gone").write_text("not a folder any more")
    output.finish(read_report(NEW))
    output.close()
    err = capsys.readouterr().err
    assert err.startswith(f"  surge run: warning: --out html={target}: ") and err.count("\n") == 1
