"""The security suite: one gateway per module (a real stdio MCP server holding a secret, the real Docker sandbox)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from gateway.app import Gateway, open_gateway
from gateway.config import GatewaySettings, StdioServerConfig
from gateway.sandbox import DockerSandboxBackend
from tests.sandbox._docker import docker_settings

SERVER = Path(__file__).resolve().parents[2] / "examples" / "expenses_server.py"
SECRET = "ptc-hostile-secret-7f3a9c1e"
Hostile = tuple[Gateway, DockerSandboxBackend]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    """Module scope: a module shares one gateway (one upstream server)."""
    return "asyncio"


@pytest.fixture(scope="module")
async def hostile() -> AsyncIterator[Hostile]:
    """One gateway for the module: a stdio server with a secret in its env; a Docker backend, no pool (a leak shows)."""
    settings = GatewaySettings(
        servers={
            "expenses": StdioServerConfig(
                command=sys.executable, args=[str(SERVER)], env={"PTC_HOSTILE_SECRET": SECRET}
            )
        },
        sandbox=docker_settings(pool_size=0, memory_mb=128, pids_limit=64),
    )
    async with DockerSandboxBackend(settings.sandbox, settings.limits) as backend:
        async with open_gateway(settings, backend=backend) as gateway:
            with anyio.fail_after(60):
                await gateway.fleet.wait_ready()
            yield gateway, backend
