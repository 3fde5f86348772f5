"""A tiny upstream MCP server for the one-tool server's tests: identity, a destructive tool, a slow tool."""

from __future__ import annotations

import os

import anyio
from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations

server = MCPServer(name="testbox", version="1.0.0")


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def whoami() -> dict[str, int]:
    """This server's process id and its parent's (the gateway's)."""
    return {"pid": os.getpid(), "ppid": os.getppid()}


@server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True))
def delete_item(item_id: str) -> str:
    """Delete an item (pretend)."""
    return f"deleted {item_id}"


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
async def slow(seconds: float) -> str:
    """Sleep, then answer."""
    await anyio.sleep(seconds)
    return "done"


if __name__ == "__main__":
    server.run()
