"""Two saved reports of one profile a week apart, for the app's report and comparison tests.

Made by the scripted controller (tests.scripted: fixed intervals, no sockets), so
they are the same bytes every time: the "new" run took 30% more load, its latency
grew with it and its p95 threshold failed, which gives a comparison something to
say. `tests/test_review.py` checks the files are still what this makes.

    .venv/bin/python -m tests.report_fixtures    # rewrite tests/fixtures/reports/
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import replace
from pathlib import Path

from engine.load.thresholds import parse_cli_threshold
from engine.profile import parse_profile
from engine.profile.plan import Overrides, build_plan
from engine.report.document import build_report, write_toml
from engine.report.model import Report
from tests.app.test_app import SHOP
from tests.scripted import FIXED_START, ScriptedController

FOLDER = Path(__file__).parent / "fixtures" / "reports"
BASE = FOLDER / "shop-base.toml"
NEW = FOLDER / "shop-new.toml"

# The app tests' shop, judged by a p95 the new run misses.
THRESHOLDS = ("latency:p(95)<6", "http_req_failed:rate<0.05")


def scripted_report(scale: float, started: dt.datetime) -> Report:
    """The average-load shape (12 s) at `scale` times the profile's rate."""
    overrides = Overrides(
        test_type="average",
        time_scale=0.005,
        thresholds=tuple(parse_cli_threshold(t) for t in THRESHOLDS),
        replace_thresholds=True,
    )
    plan = build_plan(parse_profile(SHOP, "shop.toml"), overrides, interval=1.0)
    controller = ScriptedController(plan, intervals=12)
    controller.scripted.scale = scale  # the run's own load, not steering by hand
    result = asyncio.run(controller.run())
    return build_report(replace(result, started_at=started))


def fixtures() -> dict[Path, Report]:
    return {
        BASE: scripted_report(1.0, FIXED_START),
        NEW: scripted_report(1.3, FIXED_START + dt.timedelta(days=7)),
    }


if __name__ == "__main__":
    for path, data in fixtures().items():
        print(write_toml(data, path))
