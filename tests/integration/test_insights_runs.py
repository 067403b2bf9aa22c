"""Each finding provoked by a real run on 127.0.0.1, seconds long: live in the
snapshots and at the end in the result."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path

from engine.explore.model import Insight, InsightKind
from engine.load.controller import Controller
from engine.load.run import RunResult, Snapshot
from engine.load.stages import Stage
from engine.report.document import read_report
from tests.conftest import run_surge
from tests.integration.test_engine_runs import plan_for


async def run_collecting(plan: object) -> tuple[RunResult, list[tuple[Insight, ...]]]:
    live: list[tuple[Insight, ...]] = []

    def seen(snap: Snapshot) -> None:
        live.append(snap.insights)

    result = await asyncio.wait_for(Controller(plan, seen).run(), 30)  # type: ignore[arg-type]
    return result, live


def of_kind(found: tuple[Insight, ...], kind: InsightKind) -> list[Insight]:
    return [f for f in found if f.kind is kind]


async def test_saturation_and_knee_at_a_servers_known_capacity(sut) -> None:
    """`surge sut --capacity 200` serves 200 requests/s and queues the rest; the arrival
    rate ramps 50 -> 500/s over 4 s (VUs enough never to drop): it passes 200/s at ~1.2 s,
    then the served rate stays while latency and the requests in flight climb."""
    url = sut("--capacity", "200")
    plan = plan_for(
        url + "/",
        executor="ramping-arrival-rate",
        stages=(Stage(4.0, 500.0),),
        rate=50.0,
        vus=20,
        max_vus=400,
    )
    result, live = await run_collecting(plan)
    found = {f.kind: f for f in result.insights}
    sat, knee = found[InsightKind.SATURATION], found[InsightKind.KNEE]
    assert sat.rate is not None and 150 <= sat.rate <= 320, result.insights
    assert "throughput stops growing at" in sat.text
    assert knee.rate is not None and 150 <= knee.rate <= 350, result.insights
    assert any(of_kind(found, InsightKind.SATURATION) for found in live[:-1])  # seen live
    assert InsightKind.ERRORS not in found


async def test_errors_with_their_kind_from_a_failing_server(sut) -> None:
    url = sut("--error-rate", "0.2")
    plan = plan_for(url + "/", executor="constant-arrival-rate", rate=100.0, duration=2.0, vus=5)
    result, live = await run_collecting(plan)
    (err,) = of_kind(result.insights, InsightKind.ERRORS)
    assert err.at <= 0.6 and err.rate == 100.0  # the first interval
    assert "mostly http 5xx (100%)" in err.text
    assert [f.kind for f in result.insights] == [InsightKind.ERRORS]
    assert of_kind(live[0], InsightKind.ERRORS)


async def test_generator_drops_when_no_vu_is_free(sut) -> None:
    """200 iterations/s against a 50 ms server with 2 VUs: at most 40/s find a VU."""
    url = sut("--latency", "50ms")
    plan = plan_for(
        url + "/", executor="constant-arrival-rate", rate=200.0, duration=2.0, vus=2, max_vus=2
    )
    result, _ = await run_collecting(plan)
    gen = of_kind(result.insights, InsightKind.GENERATOR)
    assert len(gen) == 1 and "iterations dropped" in gen[0].text, result.insights
    assert gen[0].at <= 1.0


async def test_a_healthy_run_finds_nothing(shared_sut: str) -> None:
    plan = plan_for(shared_sut + "/", executor="constant-arrival-rate", rate=100.0, duration=2.0)
    result, live = await run_collecting(plan)
    assert result.insights == () and all(found == () for found in live)


def test_the_headless_summary_the_report_and_report_show_carry_them(sut, tmp_path: Path) -> None:
    url = sut("--error-rate", "0.3")
    report = tmp_path / "r.toml"
    args = ("--executor", "constant-arrival-rate", "--rate", "50", "-d", "1s", "-u", "5")
    proc = run_surge("run", url + "/", *args, "--report", str(report))
    assert proc.returncode == 0, proc.stderr
    assert "█ INSIGHTS" in proc.stdout and "mostly http 5xx (100%)" in proc.stdout
    (err,) = read_report(report).insights
    assert err.kind is InsightKind.ERRORS and err.rate == 50.0
    assert tomllib.loads(report.read_text())["insights"][0]["kind"] == "errors"
    shown = run_surge("report", "show", str(report), "--no-plots")
    assert shown.returncode == 0 and "errors      errors rise to" in shown.stdout
