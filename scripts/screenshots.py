"""Regenerate screenshots/*.svg (picker, run, summary, demo, report-compare) from real app states.

The picker lists this repository's ./profiles. The run and the summary come from
a real run of profiles/example.toml (the average-load shape, compressed to
about 12 s) against the embedded demo server on a free loopback port, driven
through the app with App.run_test, exactly as a user would see it. demo.svg is
`surge demo`'s run screen: blue and green servers behind the proxy, the canary
rollout of a slow green under way in the deploy panel. report-compare.svg is
`surge report open AFTER --compare BEFORE` on the reports of two real runs of
the example profile (about 7 s each), the second against a slower, failing server.

    .venv/bin/python scripts/screenshots.py [--out screenshots] [--only report-compare]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from time import monotonic

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.deploy.driver import DeployDriver  # noqa: E402
from engine.load.controller import Controller  # noqa: E402
from engine.profile import load_profile  # noqa: E402
from engine.profile.plan import Overrides, build_plan  # noqa: E402
from engine.report.document import write_report  # noqa: E402
from engine.report.review import read_review  # noqa: E402
from tui.app.app import SurgeApp, make_app  # noqa: E402
from tui.app.screens.run import RunScreen  # noqa: E402
from tui.app.screens.summary import SummaryScreen  # noqa: E402
from tui.app.session import RunSetup  # noqa: E402
from tui.cli.demo import PROFILE as DEMO_PROFILE  # noqa: E402
from tui.cli.demo import demo_strategy  # noqa: E402
from tui.cli.demo_stack import DemoStack  # noqa: E402

SIZE = (120, 36)
PROFILE = ROOT / "profiles" / "example.toml"
TIME_SCALE = 0.005  # the 40-minute average shape in about 12 s
RUN_SHOT_AT_S = 8.0  # into the hold, after the ramp


@contextmanager
def demo_server(*flags: str) -> Iterator[str]:
    """`surge sut` on a free port with a little latency (or `flags`), so the plots have a shape."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tui.cli",
            "sut",
            "--port",
            "0",
            *(flags or ("--latency", "2ms-8ms")),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "listening on" not in line:
            raise RuntimeError(f"the demo server did not start: {line!r}")
        yield line.rsplit(" ", 1)[-1].strip()
    finally:
        proc.terminate()
        proc.wait(timeout=5)


async def wait_for(app: SurgeApp, ok: object, timeout: float) -> None:
    deadline = monotonic() + timeout
    while not ok():  # type: ignore[operator]
        if monotonic() > deadline:
            raise TimeoutError("the app did not get there in time")
        await asyncio.sleep(0.1)


async def picker(out: Path) -> None:
    app = make_app(search_default_dirs=False, profiles=[ROOT / "profiles"])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+t", "down")  # average: the preview shows its shape
        await pilot.pause(0.5)
        app.save_screenshot(filename="picker.svg", path=str(out))


async def run_and_summary(out: Path, url: str) -> None:
    app = make_app(
        PROFILE,
        test_type="average",
        start=True,
        base_url=url,
        search_default_dirs=False,
        overrides=Overrides(time_scale=TIME_SCALE),
        report_dir=ROOT / "reports",
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app, lambda: isinstance(app.screen, RunScreen), 10)
        screen = app.screen
        assert isinstance(screen, RunScreen)
        await wait_for(
            app,
            lambda: (
                screen.session.last is not None and screen.session.last.elapsed >= RUN_SHOT_AT_S
            ),
            30,
        )
        await pilot.pause(0.5)
        app.save_screenshot(filename="run.svg", path=str(out))
        await wait_for(app, lambda: isinstance(app.screen, SummaryScreen), 60)
        await pilot.pause(0.5)
        app.save_screenshot(filename="summary.svg", path=str(out))
        app.exit()


DEMO_SHOT_AT_S = 14.0  # the first window judged, green rolled back, both colors plotted


async def demo(out: Path) -> None:
    with DemoStack("latency") as stack:

        def deploy(setup: RunSetup) -> DeployDriver:
            strategy = demo_strategy(setup.profile, "canary")
            return DeployDriver(strategy, stack.admin_url, autostart=True)

        app = make_app(
            DEMO_PROFILE,
            test_type="average",
            start=True,
            base_url=stack.proxy_url,
            search_default_dirs=False,
            report_dir=ROOT / "reports",
            deploy_factory=deploy,
        )
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(app, lambda: isinstance(app.screen, RunScreen), 10)
            screen = app.screen
            assert isinstance(screen, RunScreen)
            await wait_for(
                app,
                lambda: (
                    screen.session.last is not None
                    and screen.session.last.elapsed >= DEMO_SHOT_AT_S
                ),
                40,
            )
            await pilot.pause(0.5)
            app.save_screenshot(filename="demo.svg", path=str(out))
            if screen.session.controller is not None:
                screen.session.controller.abort("screenshot taken")
            await screen.session.wait_result(20)
            # The summary is on its way in: exiting mid-mount races Textual's Header.
            await wait_for(app, lambda: isinstance(app.screen, SummaryScreen), 10)
            await pilot.pause(0.2)
            app.exit()


COMPARE_TIME_SCALE = 0.003  # the average shape in about 7 s
COMPARED = {  # report name -> the demo server's flags for that run
    "example-average-before": ("--latency", "2ms-8ms"),
    "example-average-after": ("--latency", "3ms-12ms", "--error-rate", "0.004"),
}


async def save_run(url: str, report: Path) -> None:
    plan = build_plan(
        load_profile(PROFILE, base_url=url),
        Overrides(test_type="average", time_scale=COMPARE_TIME_SCALE),
    )
    write_report(await Controller(plan).run(), report)


async def report_compare(out: Path) -> None:
    """Paths relative to the repository: they are on screen."""
    reports = Path("reports")
    with socket.socket() as probe:  # one port for both servers: the same target, twice
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    for name, flags in COMPARED.items():
        with demo_server("--port", port, *flags) as url:
            await save_run(url, reports / f"{name}.toml")
    before, after = (reports / f"{name}.toml" for name in COMPARED)
    app = make_app(
        search_default_dirs=False,
        review=read_review(after),
        base=read_review(before),
        report_dir=reports,
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app, lambda: isinstance(app.screen, SummaryScreen), 10)
        await pilot.pause(0.5)
        app.save_screenshot(filename="report-compare.svg", path=str(out))
        app.exit()


def summary_shots(out: Path) -> None:
    with demo_server() as url:
        asyncio.run(run_and_summary(out, url))


SHOTS = {  # --only NAME -> what makes it, and the files it writes
    "picker": (lambda out: asyncio.run(picker(out)), ("picker",)),
    "summary": (summary_shots, ("run", "summary")),
    "demo": (lambda out: asyncio.run(demo(out)), ("demo",)),
    "report-compare": (lambda out: asyncio.run(report_compare(out)), ("report-compare",)),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    parser.add_argument("--only", choices=SHOTS, help="one shot (summary makes run.svg too)")
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.chdir(ROOT)
    for name in [args.only] if args.only else SHOTS:
        make, files = SHOTS[name]
        make(out)
        for file in files:
            print(out / f"{file}.svg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
