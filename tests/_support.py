"""Helpers for tests that need real infrastructure (Docker, installed servers).

Under CI (`CI` set) a missing prerequisite FAILS the test: CI provisions everything, so a missing
piece is a bug in the provisioning. On a developer machine it skips with the command that fixes it.
"""

from __future__ import annotations

import os

import pytest

__all__ = ["in_ci", "require"]


def in_ci() -> bool:
    """Whether we run under CI."""
    return bool(os.environ.get("CI"))


def require(condition: bool, what: str, fix: str) -> None:
    """Fail (under CI) or skip (elsewhere) unless `condition` holds."""
    if condition:
        return
    message = f"{what} is not available; run: {fix}"
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
