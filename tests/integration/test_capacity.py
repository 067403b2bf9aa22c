"""`--type capacity` against `surge sut --capacity N`, a server whose capacity is known:
the search finds N within 10% in steps of a second, and its table shows the knee."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from engine.exit_codes import EXIT_ERROR, EXIT_OK
from engine.explore.model import InsightKind
from engine.load.controller import Controller
from engine.load.run import RunResult, Snapshot
from engine.load.states import StopReason
from engine.profile import load_profile
from engine.profile.plan import Overrides, build_plan
from engine.report.document import build_report
from engine.report.model import parse_report
from engine.report.summary import render_summary

PROFILE = """name = "capacity"
base_url = "http://127.0.0.1:9"
capacity = {{ hold = "{hold}", start = {start}, max = 5000, precision = 0.1 }}

[thresholds]
http_req_duration = ["p(95)<50"]
"""


async def search(
    url: str, tmp_path: Path, start: float, snaps: list[Snapshot] | None = None, hold: str = "1s"
) -> RunResult:
    path = tmp_path / "capacity.toml"
    path.write_text(PROFILE.format(start=start, hold=hold))
    plan = build_plan(
        load_profile(path, base_url=url), Overrides(test_type="capacity", workers=1), interval=0.5
    )
    on: Callable[[Snapshot], None] | None = snaps.append if snaps is not None else None
    return await asyncio.wait_for(Controller(plan, on_snapshot=on).run(), 90)


async def test_finds_a_known_capacity_within_ten_percent(
    sut: Callable[..., str], tmp_path: Path
) -> None:
    snaps: list[Snapshot] = []
    result = await search(sut("--capacity", "300"), tmp_path, 100, snaps)
    cap = result.capacity
    assert cap is not None and cap.rate is not None and cap.failed_at is not None, cap
    table = [(s.rate, s.held, round(s.p95, 1)) for s in cap.steps]
    assert 270 <= cap.rate <= 330, table
    assert cap.rate < cap.failed_at <= cap.rate * 1.15, table
    # the knee: every step that held answered fast, every one the server failed slowly
    held = [s for s in cap.steps if s.held]
    failed = [s for s in cap.steps if not s.held and not s.generator_limited]
    assert held and failed
    assert max(s.p95 for s in held) < 50 <= min(s.p95 for s in failed), table
    assert all(s.achieved_rate >= 0.8 * s.rate for s in held), table
    assert all(s.values["http_req_duration p(95)<50"] is not None for s in cap.steps)
    assert result.exit_code == EXIT_OK
    found = {f.kind: f for f in result.insights}  # read from the steps: the ceiling, the knee
    assert 270 <= (found[InsightKind.SATURATION].rate or 0) <= 330, result.insights
    assert 200 <= (found[InsightKind.KNEE].rate or 0) <= 400, result.insights
    assert result.stop_reason is not None and result.stop_reason.kind is StopReason.CAPACITY
    assert snaps[-1].capacity_steps == cap.steps  # live, step by step
    assert any(0 < len(s.capacity_steps) < len(cap.steps) for s in snaps)
    rates = [e.to for e in result.steering if e.to]  # every step is on record as a target
    assert cap.failed_at in [round(r) for r in rates]
    saved = parse_report(build_report(result).table()).capacity  # the report's [capacity]
    assert saved is not None and (saved.rate, saved.failed_at) == (cap.rate, cap.failed_at)
    assert [s.held for s in saved.steps] == [s.held for s in cap.steps]
    assert f"holds {cap.rate:,.0f}/s with p95 < 50 ms; fails at" in render_summary(result)


async def test_exits_1_when_even_the_first_step_fails(
    sut: Callable[..., str], tmp_path: Path
) -> None:
    result = await search(sut("--capacity", "20"), tmp_path, 40, hold="0.5s")
    cap = result.capacity
    assert cap is not None and cap.rate is None and cap.failed_at == 40
    assert [s.rate for s in cap.steps] == [40, 40]  # the first step is run again
    assert result.exit_code == EXIT_ERROR
