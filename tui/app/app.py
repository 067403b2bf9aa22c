"""Surge's live console: pick a profile and a test type, watch the run, steer it, save it.

`make_app()` builds the app (the `surge` command and the tests both call it).
The app owns the screen flow (picker → run → summary, or straight to the summary
of a saved report) and the quit path, which never loses a run silently: quitting
with an unsaved run asks, and `q` twice saves a partial report to the default path.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.filter import LineFilter, Monochrome, NoColor
from textual.screen import ModalScreen

from engine.addresses import is_url
from engine.load.states import StopCause, StopReason
from engine.profile import adhoc_profile
from engine.profile.plan import Overrides
from engine.report.document import build_report, write_report_or_fallback
from engine.report.review import Review, review_result
from engine.run_session import CHECKPOINT_S, STOP_SIGNALS, ControllerFactory
from tui.app.catalog import ProfileEntry, load_catalog, profile_dirs
from tui.app.control import DeployFactory, engine_controller, profile_deploy
from tui.app.messages import RunCrashed, RunFinished, RunRequested
from tui.app.probe import Probe, tcp_probe
from tui.app.screens.help import HelpScreen
from tui.app.screens.modals import ErrorModal, UnsavedModal
from tui.app.screens.picker import CUSTOM, PickerChoice, PickerScreen
from tui.app.screens.run import RunScreen
from tui.app.screens.summary import SummaryScreen
from tui.app.session import REPORT_DIR, ConsoleSession

if TYPE_CHECKING:
    from engine.deploy.driver import DeployDriver

SHUTDOWN_TIMEOUT_S = 20.0
# The session's stop signals but SIGINT: Ctrl+C is a key in the console (action_interrupt).
_STOP_SIGNALS = {s: reason for s, reason in STOP_SIGNALS.items() if s is not signal.SIGINT}


class SurgeApp(App[int]):
    """The app returns the last run's exit code (0, 99 thresholds failed, 1 stopped early,
    a rollout's 3 or 4), when a signal ended it; quitting by hand exits 0."""

    CSS_PATH = "surge.tcss"
    TITLE = "Surge"
    # Not priority: screens show their own quit key (^q on the picker, where q is typed
    # into fields; q elsewhere). ctrl+c is k6's and `surge run`'s: the first stops a run
    # gracefully and saves it, a second quits (unless a text field has focus: it copies).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", id="app.quit", show=False),
        Binding("ctrl+c", "interrupt", "Stop, then quit", id="app.interrupt", show=False),
        # Every screen's keys, those its footer has no room for at 80 columns included.
        Binding("question_mark", "help", "Keys", key_display="?", id="app.help"),
    ]
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]] | None] = [
        (0, "-narrow"),
        (110, "-wide"),
    ]

    def __init__(
        self,
        entries: list[ProfileEntry],
        choice: PickerChoice | None = None,
        *,
        skip_picker: bool = False,
        autostart: bool = False,
        controller_factory: ControllerFactory = engine_controller,
        report_dir: Path = REPORT_DIR,
        now: Callable[[], dt.datetime] = dt.datetime.now,
        keymap: Mapping[str, str] | None = None,
        deploy_factory: DeployFactory | None = None,
        review: Review | None = None,
        base: Review | None = None,
        probe: Probe | None = None,
        admin_url: str | None = None,
    ) -> None:
        # Before App.__init__, which takes NO_COLOR out of the environment.
        self.colourless = "NO_COLOR" in os.environ or os.environ.get("TERM") == "dumb"
        super().__init__()
        self.probe = probe  # checks a target before a run (None: a stand-in sends nothing)
        self.admin_url = admin_url  # the rollout's admin API, if not the profile's admin_port
        self.review = review  # a saved report to open on (its summary over the picker)
        self.base = base
        self.deploy_factory = deploy_factory or profile_deploy
        self.entries = entries
        self.choice = choice or PickerChoice()
        self.skip_picker = skip_picker
        self.autostart = autostart
        self.controller_factory = controller_factory
        self.report_dir = report_dir
        self.now = now
        self.keymap = dict(keymap or {})
        self.session: ConsoleSession | None = None
        self.quitting = False
        self.discarded = False
        self.checkpoint_s = CHECKPOINT_S
        self.exit_code = 0
        self.instances_confirmed: set[tuple[str, ...]] = set()  # recipes' commands accepted
        # Called on the main thread by SIGTERM/SIGHUP, whatever the loop is doing (the
        # console's exit watchdog: tui.app.watchdog); tests leave it None.
        self.on_stop_signal: Callable[[StopReason], object] | None = None
        self._old_handlers: dict[signal.Signals, object] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def get_line_filters(self) -> Sequence[LineFilter]:
        """NO_COLOR and TERM=dumb: no colour at all (Textual's own NO_COLOR filter only
        turns colours grey, still sent as 24-bit colours); bold and reverse stay."""
        filters = super().get_line_filters()
        if not self.colourless:
            return filters
        return [*(f for f in filters if not isinstance(f, Monochrome)), NoColor()]

    def on_mount(self) -> None:
        # SIGTERM and SIGHUP (an SSH session that drops) stop the run and keep its report.
        self._loop = asyncio.get_running_loop()
        for sig, reason in _STOP_SIGNALS.items():
            with contextlib.suppress(ValueError):  # not the main thread: no signals here
                self._old_handlers[sig] = signal.signal(
                    sig, functools.partial(self._on_stop_signal, reason)
                )
        if self.keymap:
            self.set_keymap(self.keymap)
        picker = PickerScreen(self.entries, self.choice, self.probe, self.admin_url)
        self.push_screen(picker)
        if self.skip_picker:
            # The picker validates and builds the plan exactly as if enter were pressed;
            # a bad profile or value leaves the user on the picker, with the reason shown.
            self.call_after_refresh(picker.action_start, self.autostart)
        if self.review is not None:
            self.push_screen(self.summary(self.review, base=self.base))

    def action_help(self) -> None:
        if not isinstance(self.screen, ModalScreen):
            self.push_screen(HelpScreen(self.screen))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "help":
            return not isinstance(self.screen, ModalScreen)
        return True

    # ------------------------------------------------------------- screen flow
    def summary(self, review: Review, base: Review | None = None) -> SummaryScreen:
        """The session goes along only for its own run: that summary can save and rerun."""
        session = self.session if review.result is not None else None
        return SummaryScreen(review, session, base=base, report_dir=self.report_dir)

    def on_summary_screen_report_opened(self, message: SummaryScreen.ReportOpened) -> None:
        """The report takes the summary's place; an unsaved run shown there is asked
        about first (save or discard), as `r`, `n` and quitting ask."""
        session = self.session

        def show() -> None:
            if session is not None and session.unsaved:
                self.session = None  # discarded: nothing left to ask about
            self.switch_screen(self.summary(message.review))

        showing_run = isinstance(self.screen, SummaryScreen) and self.screen.session is not None
        if session is None or not session.unsaved or not showing_run or session.running:
            self.switch_screen(self.summary(message.review))
            return
        self._ask_unsaved(session, quitting=False, then=show)

    def on_run_requested(self, message: RunRequested) -> None:
        deploy = self.deploy_factory(message.setup) if message.deploy else None
        self.session = ConsoleSession(
            message.setup.plan,
            control=self.controller_factory,
            deploy=deploy,
            prepare=False,
            start_rollout=deploy is not None and deploy.autostart,
            checkpoint_every=self.checkpoint_s,
            setup=message.setup,
            started_at=self.now(),
            report_dir=self.report_dir,
        )
        screen = RunScreen(
            self.session,
            autostart=message.autostart,
            now=self.now,
            confirmed=self.instances_confirmed,
        )
        if isinstance(self.screen, RunScreen | SummaryScreen):
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    def on_run_finished(self, message: RunFinished) -> None:
        """From the run screen; ignored while a dialog is over it (it re-posts on resume).
        The exit code is the session's, the rollout's included, as `surge run` exits."""
        ended = self.session.ended if self.session is not None else None
        self.exit_code = message.result.exit_code if ended is None else ended.exit_code
        if self.quitting or self.session is None or not isinstance(self.screen, RunScreen):
            return
        self.switch_screen(self.summary(review_result(message.result)))
        if ended is not None and ended.report_path is not None:  # Ctrl+C: the session saved it
            saved = ended.problem or f"report saved to {ended.report_path}"
            self.notify(f"{saved}; Ctrl+C again quits", title="Saved")

    def on_run_crashed(self, message: RunCrashed) -> None:
        self.exit_code = 1
        if self.quitting or self.session is None or not isinstance(self.screen, RunScreen):
            return
        if self.session.result is not None:
            self.switch_screen(self.summary(review_result(self.session.result)))
            text = f"{message.error}\n\nWhat was measured up to here is kept; w saves it."
        else:
            self.pop_screen()
            self.session = None
            text = f"{message.error}\n\nNothing was measured."
        self.push_screen(ErrorModal("The engine stopped with an error", text))

    def action_new_run(self, again: bool) -> None:
        """From the summary: the same setup again, or back to the picker; asks if unsaved."""
        session = self.session

        def proceed() -> None:
            if again and session is not None:
                self.post_message(RunRequested(session.setup, autostart=True))
            else:
                self.session = None  # saved or discarded: nothing left to ask about
                self.pop_screen()

        if session is None or not session.unsaved:
            proceed()
            return
        self._ask_unsaved(session, quitting=False, then=proceed)

    def _ask_unsaved(
        self, session: ConsoleSession, *, quitting: bool, then: Callable[[], None]
    ) -> None:
        path = session.default_path
        message = (
            f"The {'run in progress' if session.running else 'last run'} "
            f"({session.setup.profile.name}, {session.setup.type_label}, "
            f"{session.controller.model.elapsed if session.controller else 0:.0f}s measured) "
            "is not saved."
        )

        async def save_then() -> None:
            try:
                await session.save(path, session.result)
            except OSError as exc:
                self.push_screen(ErrorModal("Could not save", f"{path}: {exc.strerror or exc}"))
                return
            self.notify(f"report saved to {path}", title="Saved")
            then()

        def chosen(choice: str | None) -> None:
            if choice is None:
                return
            if quitting:  # stop first, then save the whole (aborted) run: nothing is cut off
                self.shutdown(save=choice == "save")
            elif choice == "save":
                self.run_worker(save_then(), group="save", exit_on_error=False)
            else:
                session.drop_checkpoint()
                then()

        self.push_screen(UnsavedModal(message, path, quitting=quitting), chosen)

    # -------------------------------------------------------------------- quit
    def _on_stop_signal(self, reason: StopReason, _signum: int, _frame: object) -> None:
        """A Python-level handler, not the loop's: it runs even while the main thread is
        blocked in Textual's driver (a lost terminal), so the watchdog is always armed."""
        if self.on_stop_signal is not None:
            self.on_stop_signal(reason)
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: the app has ended
                self._loop.call_soon_threadsafe(self._signalled, reason)

    def on_unmount(self) -> None:
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._old_handlers.clear()

    def stop_grace(self) -> float:
        """The longest stop grace of the instances this console started and still runs."""
        session = self.session
        if session is None or not instances_left(session.deploy):
            return 0.0
        assert session.deploy is not None and session.deploy.fleet is not None
        running = session.deploy.fleet.launcher.running.values()
        return max((inst.recipe.stop_grace for inst in running), default=0.0)

    def _signalled(self, reason: StopReason) -> None:
        if not self.quitting:
            self.shutdown(save=True, reason=reason)

    def save_if_lost(self, why: str) -> str | None:
        """After the app has ended, however it ended (a crash included): a measured run
        that was not saved is written now, so no run is lost. Synchronous: no loop left."""
        session = self.session
        if session is not None and instances_left(session.deploy):
            assert session.deploy is not None
            leave_router(session.deploy)  # SIGTERM, the grace, SIGKILL: before atexit's SIGKILL
        if self.discarded or session is None or not session.unsaved or not session.controller:
            return None
        result = session.result or session.partial_result(StopCause(StopReason.OTHER, why))
        if session.deploy is not None and session.deploy.final is None:
            leave_router(session.deploy)
        report = build_report(result, session.deploy_record())
        path, problem = write_report_or_fallback(report, session.default_path, result.started_at)
        session.saved_to = path
        return problem or f"the unsaved run was written to {path}"

    def action_interrupt(self) -> None:
        """Ctrl+C, as in k6 and `surge run`: the first stops a running run gracefully (its
        report saved when it ends), a second quits, saving what is unsaved. Never a dialog:
        a Ctrl+C that opened and closed one left the run going."""
        session = self.session
        if self.quitting:
            return
        running = session is not None and session.running
        if running and session is not None and session.report is None:
            session.report = session.default_path  # the session writes it when the run ends
            session.stop(StopReason.INTERRUPTED)
            self.notify(
                "stopping gracefully; the report is saved when the run ends. "
                "Ctrl+C again quits at once (saved too).",
                title="Ctrl+C",
                timeout=8,
            )
            return
        reason = StopReason.INTERRUPTED_TWICE if running else StopReason.QUIT
        self.shutdown(save=True, reason=reason)

    async def action_quit(self) -> None:
        """Quit without losing anything: ask when a measured run is unsaved."""
        if self.quitting or isinstance(self.screen, UnsavedModal):
            return
        session = self.session
        if session is not None and not session.started and instances_left(session.deploy):
            self.shutdown(save=False)  # instances starting before the run: they stop first
            return
        if session is None or not session.started:
            self.exit(0)
            return
        if not session.unsaved:
            self.shutdown(save=False)
            return
        self._ask_unsaved(session, quitting=True, then=lambda: None)

    @work(group="shutdown", exclusive=True, exit_on_error=False)
    async def shutdown(self, save: bool, reason: StopReason = StopReason.QUIT) -> None:
        """Stop the run and its worker processes, wait for them, save if asked, exit.

        The console exits 0 when the user quits (the runs' verdicts are in their reports
        and on screen); stopped by a signal, it exits with the run's code, as `surge run`."""
        session = self.session
        self.quitting = True
        self.discarded = not save  # the user said so: nothing is saved behind their back
        if self.discarded and session is not None:
            session.drop_checkpoint()
        if session is not None and session.running:
            self.notify("stopping the run and its worker processes…", timeout=SHUTDOWN_TIMEOUT_S)
            session.abort(reason)
            await session.wait_result(SHUTDOWN_TIMEOUT_S)
            if session.ended is not None:
                self.exit_code = session.ended.exit_code
        if session is not None and session.deploy is not None and session.deploy.final is None:
            await session.deploy.finish()  # q, Ctrl+C, SIGTERM mid-rollout: on_exit applies
        if save and session is not None and session.unsaved:  # saved already: not again
            path = session.default_path
            try:
                await session.save(path, session.result)
            except OSError as exc:
                self.quitting = False
                self.push_screen(ErrorModal("Could not save", f"{path}: {exc.strerror or exc}"))
                return
        self.exit(self.exit_code if reason in _STOP_SIGNALS.values() else 0)


def instances_left(deploy: DeployDriver | None) -> bool:
    """Instances Surge started from recipes still run, and no `finish()` stopped them."""
    fleet = None if deploy is None or deploy.final is not None else deploy.fleet
    return fleet is not None and bool(fleet.launcher.running)


def leave_router(deploy: DeployDriver) -> None:
    """After the app's loop has ended (a crash, a lost terminal): on_exit still reaches
    the router, bounded. On a thread of its own, so a caller that still runs a loop (an
    async test, the exit watchdog) cannot skip it; a stop that fails is said on stderr."""

    async def finish() -> None:
        await asyncio.wait_for(deploy.finish(), SHUTDOWN_TIMEOUT_S)

    try:
        with ThreadPoolExecutor(1, thread_name_prefix="surge-leave-router") as pool:
            pool.submit(lambda: asyncio.run(finish())).result()
    except Exception as exc:  # said, not raised: the report is written next
        with contextlib.suppress(OSError):  # the terminal may be gone
            why = str(exc) or type(exc).__name__
            print(f"surge: the router's graceful stop failed: {why}", file=sys.stderr)


def make_app(
    profile: str | Path | None = None,
    *,
    test_type: str | None = None,
    start: bool = False,
    env: str | None = None,
    base_url: str | None = None,
    profiles: Sequence[str | Path] = (),
    search_default_dirs: bool = True,
    overrides: Overrides | None = None,
    controller_factory: ControllerFactory = engine_controller,
    report_dir: str | Path = REPORT_DIR,
    now: Callable[[], dt.datetime] = dt.datetime.now,
    keymap: Mapping[str, str] | None = None,
    deploy_factory: DeployFactory | None = None,
    review: Review | None = None,
    base: Review | None = None,
    probe: Probe | None = None,
    admin_url: str | None = None,
) -> SurgeApp:
    """The app as `surge [PROFILE|URL] [--type T] [--start]` opens it; tests inject a controller.

    With a PROFILE (or a URL: one endpoint, as `surge run URL`) the picker is skipped (it
    still validates, and stays up if something is wrong); without --type that runs what
    `surge run PROFILE` runs.
    With a `review` (`surge report open FILE [--compare BASE]`) it opens on that
    report's summary, `base` overlaid; `n` goes to the picker beneath.
    The real engine's target is probed before each run (tui.app.probe); a stand-in
    controller's is not, unless the test passes a `probe`. `admin_url`: the proxy
    admin API a `deploy_factory`'s rollout uses (`surge demo`'s), probed instead of the
    profile's `admin_port`.
    """
    extra = [Path(p) for p in profiles]
    dirs = profile_dirs(extra) if search_default_dirs else extra
    url = str(profile) if isinstance(profile, str) and is_url(profile) else None
    first = Path(profile) if profile is not None and url is None else None
    entries = load_catalog(dirs, first=first, base_url=base_url)
    if url is not None:  # what `surge run URL` runs (a ProfileError when the URL is bad)
        entries.insert(0, ProfileEntry(None, adhoc_profile(url)))
    choice = PickerChoice(
        profile_path=first,
        url=url,
        test_type=test_type or (CUSTOM if profile is not None else None),
        env=env,
        base_url=base_url,
        overrides=overrides or Overrides(),
    )
    return SurgeApp(
        entries,
        choice,
        skip_picker=profile is not None,
        autostart=start,
        controller_factory=controller_factory,
        report_dir=Path(report_dir),
        now=now,
        keymap=keymap,
        deploy_factory=deploy_factory,
        review=review,
        base=base,
        probe=probe or (tcp_probe if controller_factory is engine_controller else None),
        admin_url=admin_url,
    )
