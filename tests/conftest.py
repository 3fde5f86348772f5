"""Fixtures and hooks shared by every test area."""

from __future__ import annotations

from collections.abc import Generator
from typing import cast

import pytest

from tests._support import in_ci


@pytest.fixture
def anyio_backend() -> str:
    """Run anyio tests on asyncio (the SDK, uvicorn and boto3 threads all live there)."""
    return "asyncio"


# Under CI everything a test needs is provisioned (scripts/bootstrap --test), so a skip can only mean
# a test silently did not run: whatever skipped it (`tests._support.require`, a `skipif`, an
# `importorskip`, a module-level skip), the run fails instead. `xfail` (strict) is not a skip.
_CI_SKIP = "skipped under CI, where nothing may skip (scripts/bootstrap --test provisions everything): "


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = _CI_SKIP + _skip_reason(report.longrepr)
    return report


_SKIPPED_MODULES = pytest.StashKey[list[str]]()


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    # A module that skips itself is not turned into a collection error (that would stop the whole run);
    # it is listed and fails the session at the end instead.
    report = yield
    if in_ci() and report.skipped:
        collector.config.stash.setdefault(_SKIPPED_MODULES, []).append(
            f"{report.nodeid} - {_skip_reason(report.longrepr)}"
        )
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if session.config.stash.get(_SKIPPED_MODULES, None) and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    for line in config.stash.get(_SKIPPED_MODULES, None) or ():
        terminalreporter.write_line(f"FAILED {line} ({_CI_SKIP.rstrip(': ')})", red=True)


def _skip_reason(longrepr: object) -> str:
    if not isinstance(longrepr, tuple):
        return str(longrepr)
    parts = cast(tuple[object, ...], longrepr)  # a skip's: (path, line, "Skipped: reason")
    return str(parts[2]) if len(parts) == 3 else str(parts)
