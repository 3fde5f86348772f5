"""Shared helpers of the security suite: a Docker backend under test settings, and a checked run."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from gateway.config import ExecutionLimits
from gateway.executor import ExecutionResult
from gateway.sandbox import DockerSandboxBackend
from gateway.sandbox._engine import connect_engine
from gateway.tools import BaseToolSource
from tests._support import require
from tests.executor._fleet import run
from tests.sandbox._docker import count_owned_containers, docker_settings

__all__ = ["LIMITS", "RUNTIMES", "docker_backend", "last_json", "require_runtime", "run_checked"]

LIMITS = ExecutionLimits(execution_timeout_s=20.0, tool_call_timeout_s=10.0)
RUNTIMES = ["runc", "runsc"]
"""OCI runtimes the behavioural subset runs under (runsc: gVisor, registered by scripts/install-runsc)."""


def require_runtime(runtime: str) -> str:
    """`runtime`, once the engine is known to have it (fails under CI, skips elsewhere)."""
    docker_settings()  # the engine and the image first
    api = connect_engine(None, timeout_s=10)
    try:
        runtimes = cast(dict[str, Any], api.info().get("Runtimes") or {})
    finally:
        api.close()
    require(runtime in runtimes, f"the {runtime!r} runtime on the Docker engine", "scripts/install-runsc (as root)")
    return runtime


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
    """Run `code` in a fresh sandbox of `backend` (`docker_backend` checks on exit that no container is left)."""
    return await run(backend, code, source=source, limits=limits or LIMITS, timeout_s=timeout_s)


def last_json(result: ExecutionResult) -> Any:
    """The last line of stdout, parsed: the probes print their findings as one JSON line."""
    assert result.ok, result.error
    return json.loads(result.stdout.strip().splitlines()[-1])
