"""A one-tool MCP server for the fan-out benchmark: `sleep(seconds)` sleeps, then says so."""

from __future__ import annotations

import anyio
from mcp.server.mcpserver import MCPServer

server = MCPServer(name="sleepy", version="1.0.0")


@server.tool()
async def sleep(seconds: float) -> str:
    """Sleep for `seconds`, then return "slept"."""
    await anyio.sleep(seconds)
    return "slept"


if __name__ == "__main__":
    server.run()
