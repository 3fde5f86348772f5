"""A tiny MCP server on the Python SDK 2.x, for the fleet tests.

Run over stdio (`python sdk2_server.py`), or build the ASGI app for streamable HTTP with
`http_app()`. Faults (hangs, crashes, garbage...) are `faulty_server.py`'s job. Tools:

- `echo(text)`: returns the text;
- `pid()`: the server's process id (read-only, idempotent: safe to resend after a crash);
- `add_tool(name)`: registers a new tool and announces `tools/list_changed` in both eras;
- `request_meta()`: the `_meta` the request carried (to check pass-through);
- `count(n)`: reports progress n times, then returns n.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import ToolAnnotations
from mcp_types.version import MODERN_PROTOCOL_VERSIONS


def build_server() -> MCPServer:
    server = MCPServer("sdk2-test")

    @server.tool()
    def echo(text: str) -> str:
        """Return the text."""
        return text

    @server.tool(annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True))
    def pid() -> int:
        """The server's process id."""
        return os.getpid()

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

    @server.tool()
    def request_meta(ctx: Context) -> dict[str, Any]:
        """The request's `_meta`."""
        return dict(ctx.request_context.meta or {})

    @server.tool()
    async def count(n: int, ctx: Context) -> int:
        """Report progress n times."""
        for i in range(n):
            await ctx.report_progress(i + 1, n, f"step {i + 1}")
        return n

    return server


if __name__ == "__main__":
    if sys.argv[1:] == ["--http"]:
        raise SystemExit("build the app with http_app() in-process")
    build_server().run()
