"""Connecting to servers and calling their tools never blocks the event loop (blockbuster)."""

from __future__ import annotations

import ssl
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest
from blockbuster import BlockBuster, BlockBusterFunction

from gateway.config import RemoteServerConfig, StdioServerConfig
from gateway.tools import ToolRef
from gateway.upstream import connect_fleet
from tests.upstream._http import serve_http
from tests.upstream.sdk2_server import build_server

pytestmark = pytest.mark.anyio


@pytest.fixture
def blockbuster() -> Iterator[BlockBuster]:
    """blockbuster's checks, plus loading a CA bundle (file reads inside the ssl module's C code)."""
    bb = BlockBuster()
    bb.functions["ssl.SSLContext.load_verify_locations"] = BlockBusterFunction(ssl.SSLContext, "load_verify_locations")
    bb.activate()
    try:
        yield bb
    finally:
        bb.deactivate()


async def test_stdio_http_and_sse_servers(sdk2_server: StdioServerConfig, blockbuster: BlockBuster) -> None:
    """TLS setup and lazy imports happen in worker threads; a blocking call would fail the calls."""
    server = build_server()
    async with serve_http(server.streamable_http_app()) as url, serve_http(server.sse_app()) as sse_base:
        servers = {
            "stdio": sdk2_server,
            "http": RemoteServerConfig(url=url, timeout=20),
            "sse": RemoteServerConfig(url=sse_base.removesuffix("/mcp") + "/sse", type="sse", timeout=20),
        }
        async with connect_fleet(servers) as fleet:
            await fleet.wait_ready(timeout_s=60)
            for name in servers:
                assert fleet.status()[name].state == "ready", fleet.status()[name].error
                result = await fleet.call_tool(ToolRef(server=name, name="echo"), {"text": name})
                assert result.structured == {"result": name}


def test_the_fleet_imports_jsonschema_off_the_loop() -> None:
    """The SDK imports jsonschema (~0.1 s of file reads) on the first call with an output schema."""
    probe = textwrap.dedent(
        """
        import sys
        import anyio
        from gateway.upstream import connect_fleet

        async def main() -> None:
            assert "jsonschema" not in sys.modules
            async with connect_fleet({}):
                with anyio.fail_after(30):
                    while "jsonschema" not in sys.modules:
                        await anyio.sleep(0.01)

        anyio.run(main)
        """
    )
    subprocess.run([sys.executable, "-c", probe], check=True, timeout=60)
