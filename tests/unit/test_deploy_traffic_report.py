"""A rollout's cohorts and mirror pairs in the report's `[deploy]`: written, read back as
they were, shown by `report show`; a step row without them is written as before."""

from __future__ import annotations

from dataclasses import replace

import tomli_w

from engine.report.deploy_section import (
    ColorWindow,
    DeployRecord,
    MirrorExampleRow,
    MirrorWindow,
    Outcome,
    StepRow,
    deploy_table,
    render_deploy,
)
from engine.report.model import parse_report

PLAIN = StepRow(
    5.0, 0, 100, 0, 5.0, ColorWindow(900, 0, 5, 6, 7), ColorWindow(40, 0, 5, 6, 7), "passed", "ok"
)
EXAMPLES = (MirrorExampleRow("/api/x?id=1", 200, 500), MirrorExampleRow("/y", 200, 0))
MIRROR = MirrorWindow(60, 1, 2, 3, 4.5, 9.25, EXAMPLES)


def record(*steps: StepRow) -> DeployRecord:
    return DeployRecord(
        "canary",
        "surge proxy",
        "2026-01-01T00:00:00+00:00",
        "2026-01-01T00:00:10+00:00",
        Outcome.PROMOTED,
        0,
        100,
        steps=steps,
    )


def with_traffic() -> DeployRecord:
    cohort = replace(PLAIN, cohorts={"green+beta": ColorWindow(40, 1, 4, 5, 6.5)})
    mirror = replace(PLAIN, at_s=10.0, step=1, mirror=MIRROR, reason="mirror: 60 pairs")
    return record(cohort, mirror)


def test_cohorts_and_mirror_pairs_read_back_as_they_were_written() -> None:
    rec = with_traffic()
    table = {"meta": {}, "summary": {"requests": 0}, "deploy": deploy_table(rec)}
    again = parse_report(table).deploy
    assert again == rec
    steps = deploy_table(rec)["steps"]
    assert steps[0]["cohorts"]["green+beta"]["requests"] == 40
    assert steps[1]["mirror"]["examples"][1] == {
        "path": "/y",
        "blue_status": 200,
        "green_status": 0,
    }
    text = "\n".join(render_deploy(rec))
    assert "\n          +beta      40 req   2.50% err p50" in text
    assert "mirror 60 pairs: 1 status and 2 body mismatches, 3 errors" in text
    assert "/api/x?id=1: blue 200, green 500" in text and "/y: blue 200, green no answer" in text
    assert all(len(line) <= 80 for line in text.splitlines())


def test_a_row_without_cohorts_or_mirror_is_written_as_before() -> None:
    row = deploy_table(record(PLAIN))["steps"][0]
    assert "cohorts" not in row and "mirror" not in row
    before = (
        'at_s = 5.0\nweights = [\n    100,\n    0,\n]\nwindow_s = 5.0\nverdict = "passed"\n'
        'reason = "ok"\nstep = 0\n'
    )
    assert tomli_w.dumps({k: v for k, v in row.items() if k not in ("blue", "green")}) == before


def test_a_bad_mirror_table_is_read_as_far_as_it_goes() -> None:
    table = deploy_table(with_traffic())
    table["steps"][1]["mirror"] = {"mirrored": "many", "errors": 2, "examples": [1, {"path": 7}]}
    again = parse_report({"meta": {}, "summary": {"requests": 0}, "deploy": table}).deploy
    assert again is not None and again.steps[1].mirror == MirrorWindow(
        errors=2, examples=(MirrorExampleRow("7", 0, 0),)
    )
