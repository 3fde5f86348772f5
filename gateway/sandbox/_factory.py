"""The one place a concrete sandbox backend is chosen from the settings."""

from __future__ import annotations

from typing import assert_never

from gateway.config import ExecutionLimits, SandboxSettings
from gateway.sandbox._base import BaseSandboxBackend

__all__ = ["create_backend"]


def create_backend(settings: SandboxSettings, limits: ExecutionLimits) -> BaseSandboxBackend:
    """Build the configured backend, not yet started (enter it with `async with`)."""
    match settings.backend:
        case "docker":
            from gateway.sandbox._docker import DockerSandboxBackend

            return DockerSandboxBackend(settings, limits)
        case "agentcore":
            from gateway.sandbox._agentcore import AgentCoreSandboxBackend

            return AgentCoreSandboxBackend(settings, limits)
        case "local-process":
            from gateway.sandbox._local import LocalProcessBackend

            return LocalProcessBackend(settings, limits)
        case _:  # pragma: no cover - exhaustive
            assert_never(settings.backend)
