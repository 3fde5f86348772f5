"""A tiny upstream MCP server for the one-tool server's tests: identity, a destructive tool, a slow tool,
and a tool that adds a tool (announcing `tools/list_changed`)."""

from __future__ import annotations

import os

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp_types import ToolAnnotations
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

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


@server.tool()
async def add_tool(name: str, ctx: Context) -> str:
    """Register a tool called `name` and announce the change."""

    def added() -> str:
        return f"I am {name}"

    server.add_tool(added, name=name, description=f"Added at run time: {name}")
    if ctx.request_context.protocol_version in MODERN_PROTOCOL_VERSIONS:
        await ctx.notify_tools_changed()
    else:
        await ctx.session.send_tool_list_changed()
    return name


if __name__ == "__main__":
    server.run()
