"""Shared helpers of the security suite: a Docker backend under test settings, and a checked run."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from gateway.config import ExecutionLimits
from gateway.executor import ExecutionResult
from gateway.sandbox._docker import DockerSandboxBackend
from gateway.tools import BaseToolSource
from tests.executor._fleet import run
from tests.sandbox._docker import count_owned_containers, docker_settings

__all__ = ["LIMITS", "docker_backend", "last_json", "run_checked"]

LIMITS = ExecutionLimits(execution_timeout_s=20.0, tool_call_timeout_s=10.0)


@asynccontextmanager
async def docker_backend(**overrides: Any) -> AsyncIterator[DockerSandboxBackend]:
    """A started Docker backend with the test settings (no pool unless asked); proves nothing is left after."""
    settings = docker_settings(**{"pool_size": 0, **overrides})
    async with DockerSandboxBackend(settings, LIMITS) as backend:
        yield backend
    assert count_owned_containers(backend.owner) == 0, "a container was left behind"


async def run_checked(
    backend: DockerSandboxBackend,
    code: str,
    *,
    source: BaseToolSource | None = None,
    limits: ExecutionLimits | None = None,
    timeout_s: float = 90.0,
) -> ExecutionResult:
    """Run `code` in a fresh sandbox of `backend` and check that its container is gone afterwards."""
    before = backend.owned_containers  # other executions may be running at the same time
    result = await run(backend, code, source=source, limits=limits or LIMITS, timeout_s=timeout_s)
    assert backend.owned_containers <= before, "the execution's container was not removed"
    return result


def last_json(result: ExecutionResult) -> Any:
    """The last line of stdout, parsed: the probes print their findings as one JSON line."""
    assert result.ok, result.error
    return json.loads(result.stdout.strip().splitlines()[-1])
