"""pytest plugin: on CI (``CI`` set and not false) a skipped test fails the run.

A runner without mosquitto, PulseAudio or Chromium would otherwise go green
while silently losing that coverage.  Outside CI skips stay allowed; either
way they are listed with their reasons (``-rs`` is turned on).  Expected
failures (xfail) are not skips.
"""

from __future__ import annotations

import os

import pytest

FALSE = ("", "0", "false", "no", "off")


def on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in FALSE


class SkipGuard:
    """Collects skipped tests; on CI turns a green run red and says why."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.skipped: list[str] = []

    def _note(self, report: pytest.TestReport | pytest.CollectReport) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):
            self.skipped.append(report.nodeid)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._note(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self._note(report)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        green = (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
        if self.strict and self.skipped and session.exitstatus in green:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.strict and self.skipped:
            terminalreporter.write_line(
                f"CI is set: {len(self.skipped)} skipped test(s) fail the run "
                "(install what they need; see the reasons above)",
                red=True,
                bold=True,
            )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    chars = config.option.reportchars
    if "s" not in chars and "a" not in chars and "A" not in chars and "N" not in chars:
        config.option.reportchars = chars + "s"
    config.pluginmanager.register(SkipGuard(on_ci()), "voxstream-skip-guard")
