"""The sandbox backends every executor test runs against.

To add a backend, add a factory to `BACKEND_FACTORIES` (a test that needs infrastructure calls
`tests._support.require` inside its factory so it fails under CI instead of skipping).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from gateway.sandbox import BaseSandboxBackend, LocalProcessBackend


def _local() -> BaseSandboxBackend:
    return LocalProcessBackend()


def _docker() -> BaseSandboxBackend:
    from gateway.config import ExecutionLimits
    from gateway.sandbox import DockerSandboxBackend
    from tests.sandbox._docker import docker_settings

    return DockerSandboxBackend(docker_settings(), ExecutionLimits())


BACKEND_FACTORIES: dict[str, Callable[[], BaseSandboxBackend]] = {
    "local": _local,
    "docker": _docker,
}


@pytest.fixture(params=sorted(BACKEND_FACTORIES))
async def sandbox_backend(request: pytest.FixtureRequest) -> AsyncIterator[BaseSandboxBackend]:
    """A started backend, closed after the test (its sandboxes too)."""
    backend = BACKEND_FACTORIES[request.param]()
    enter = getattr(backend, "__aenter__", None)  # backends with a warm pool start it on entry
    try:
        if enter is not None:
            await enter()
        yield backend
    finally:
        await backend.aclose()
