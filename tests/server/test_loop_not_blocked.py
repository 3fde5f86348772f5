"""Serving the one tool never blocks the event loop: listing, executing, fanning out (blockbuster)."""

from __future__ import annotations

import pytest
from blockbuster import blockbuster_ctx
from mcp import Client

from gateway.config import GatewaySettings
from gateway.sandbox import BaseSandboxBackend, DockerSandboxBackend, LocalProcessBackend
from gateway.server import open_server
from tests.sandbox._docker import docker_settings
from tests.servers import everything_server

pytestmark = pytest.mark.anyio

CODE = """
import asyncio
print(await everything.echo(message="hi"))
print(len(await asyncio.gather(*(everything.echo(message=str(i)) for i in range(20)))))
"""


@pytest.mark.parametrize("backend_name", ["local", "docker"])
async def test_list_and_execute_over_the_mcp_server(backend_name: str) -> None:
    settings = GatewaySettings(servers={"everything": everything_server()})
    backend: BaseSandboxBackend
    if backend_name == "docker":
        backend = DockerSandboxBackend(docker_settings(), settings.limits)
    else:
        backend = LocalProcessBackend()
    async with backend, open_server(settings, backend=backend) as gateway_server:
        await gateway_server.gateway.fleet.wait_ready(60)
        with blockbuster_ctx():
            async with Client(gateway_server.server) as client:
                listed = await client.list_tools()
                assert [tool.name for tool in listed.tools] == ["execute_code"]
                for _ in range(2):
                    result = await client.call_tool("execute_code", {"code": CODE})
                    assert not result.is_error, result
                    assert result.structured_content is not None
                    assert result.structured_content["stdout"] == "Echo: hi\n20\n"
