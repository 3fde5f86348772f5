"""Fixtures: the local Bedrock endpoint and a gateway over the demo expenses + HR servers."""

from __future__ import annotations

import sys
from collections.abc import AsyncGenerator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Literal

import anyio
import pytest

from gateway.app import Gateway, open_gateway
from gateway.config import GatewaySettings, SandboxSettings, ServerConfig, StdioServerConfig
from tests.bedrock.fixtures import bedrock
from tests.sandbox._docker import docker_settings

__all__ = ["bedrock", "open_demo_gateway"]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

OpenGateway = Callable[..., AbstractAsyncContextManager[Gateway]]


def demo_settings(
    *,
    backend: Literal["docker", "local-process"] = "local-process",
    hr: bool = True,
    names: tuple[str, str] = ("expenses", "hr"),
) -> GatewaySettings:
    """The demo servers under `names` (the server names become the namespaces the model sees)."""
    expenses_name, hr_name = names
    servers: dict[str, ServerConfig] = {
        expenses_name: StdioServerConfig(command=sys.executable, args=[str(EXAMPLES / "expenses_server.py")])
    }
    if hr:
        servers[hr_name] = StdioServerConfig(command=sys.executable, args=[str(EXAMPLES / "hr_server.py")])
    # Docker: the shared test prerequisites (fail under CI, skip elsewhere, image built once).
    sandbox = docker_settings() if backend == "docker" else SandboxSettings(backend=backend, pool_size=1)
    return GatewaySettings(servers=servers, sandbox=sandbox)


@asynccontextmanager
async def _open(
    *,
    backend: Literal["docker", "local-process"] = "local-process",
    hr: bool = True,
    names: tuple[str, str] = ("expenses", "hr"),
) -> AsyncGenerator[Gateway]:
    async with open_gateway(demo_settings(backend=backend, hr=hr, names=names)) as gateway:
        with anyio.fail_after(60):
            await gateway.fleet.wait_ready()
        yield gateway


@pytest.fixture
def open_demo_gateway() -> OpenGateway:
    """`async with open_demo_gateway(backend=..., hr=..., names=...) as gateway`."""
    return _open
