"""Fixtures shared by every test area."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Run anyio tests on asyncio (the SDK, uvicorn and boto3 threads all live there)."""
    return "asyncio"
