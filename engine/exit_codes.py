"""Every exit code Surge gives, in one place (README: "Exit codes").

99 is k6's code for failed thresholds, so CI jobs written for k6 read Surge alike.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1  # the run was aborted or crashed; also a regression, a failed call
    BAD_INPUT = 2  # bad flags, a bad profile or report: one line names file, line and key
    ROLLED_BACK = 3  # a headless run's rollout was rolled back (a failed threshold's 99 wins)
    UNFINISHED = 4  # a headless run's load ended before its rollout's verdict (99, 3 win)
    GATE_REFUSED = 5  # a headless run's rollout was stopped by a refusing gate hook (99 wins)
    THRESHOLDS = 99  # as k6: at least one threshold failed


EXIT_OK = ExitCode.OK
EXIT_ERROR = ExitCode.ERROR
EXIT_BAD_INPUT = ExitCode.BAD_INPUT
EXIT_THRESHOLDS = ExitCode.THRESHOLDS
EXIT_ROLLED_BACK = ExitCode.ROLLED_BACK
EXIT_UNFINISHED = ExitCode.UNFINISHED
EXIT_GATE_REFUSED = ExitCode.GATE_REFUSED
EXIT_REGRESSION = ExitCode.ERROR  # `surge report compare --fail-on-regression`
