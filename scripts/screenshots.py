"""Regenerate screenshots/picker.svg, run.svg, summary.svg and demo.svg from real app states.

The picker lists this repository's ./profiles. The run and the summary come from
a real run of profiles/example.toml (the average-load shape, compressed to
about 12 s) against the embedded demo server on a free loopback port, driven
through the app with App.run_test, exactly as a user would see it. demo.svg is
`surge demo`'s run screen: blue and green servers behind the proxy, the canary
rollout of a slow green under way in the deploy panel.

    .venv/bin/python scripts/screenshots.py [--out screenshots]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from time import monotonic

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.deploy import DemoStack, DeployDriver  # noqa: E402
from engine.plan import Overrides  # noqa: E402
from tui.app import SurgeApp, make_app  # noqa: E402
from tui.demo import PROFILE as DEMO_PROFILE  # noqa: E402
from tui.demo import demo_strategy  # noqa: E402
from tui.screens.run import RunScreen  # noqa: E402
from tui.screens.summary import SummaryScreen  # noqa: E402
from tui.session import RunSetup  # noqa: E402

SIZE = (120, 36)
PROFILE = ROOT / "profiles" / "example.toml"
TIME_SCALE = 0.005  # the 40-minute average shape in about 12 s
RUN_SHOT_AT_S = 8.0  # into the hold, after the ramp


@contextmanager
def demo_server() -> Iterator[str]:
    """`surge sut` on a free port with a little latency, so the plots have a shape."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine.sut", "--port", "0", "--latency", "2ms-8ms"],
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
            app.exit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    asyncio.run(picker(args.out))
    with demo_server() as url:
        asyncio.run(run_and_summary(args.out, url))
    asyncio.run(demo(args.out))
    for name in ("picker", "run", "summary", "demo"):
        print(args.out / f"{name}.svg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
