"""A low-level Python SDK 2.x server whose tools/list comes in pages of 3 (7 tools), over stdio.

Its `mixed` tool answers with every kind of content block, to exercise the conversion.
"""

from __future__ import annotations

from typing import Any

import anyio
import mcp_types as types
from mcp.server import Server
from mcp.server.context import ServerRequestContext
from mcp.server.stdio import stdio_server

PAGE_SIZE = 3
TOOLS = [
    types.Tool(
        name=f"tool-{index}",
        description=f"Tool number {index}.",
        input_schema={"type": "object", "properties": {"x": {"type": "integer"}}},
        annotations=types.ToolAnnotations(title=f"Tool {index}", read_only_hint=index % 2 == 0),
    )
    for index in range(6)
] + [
    types.Tool(
        name="mixed",
        input_schema={"type": "object"},
        output_schema={"type": "object", "properties": {"ok": {"type": "boolean"}}},
    )
]


async def list_tools(
    ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
) -> types.ListToolsResult:
    start = int(params.cursor) if params is not None and params.cursor else 0
    end = start + PAGE_SIZE
    return types.ListToolsResult(tools=TOOLS[start:end], next_cursor=str(end) if end < len(TOOLS) else None)


async def call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> types.CallToolResult:
    if params.name != "mixed":
        return types.CallToolResult(content=[types.TextContent(text=f"{params.name}: {params.arguments}")])
    return types.CallToolResult(
        content=[
            types.TextContent(text="hello"),
            types.ImageContent(data="aGk=", mime_type="image/png"),
            types.AudioContent(data="aGk=", mime_type="audio/wav"),
            types.ResourceLink(uri="file:///a.txt", name="a.txt", mime_type="text/plain"),
            types.EmbeddedResource(resource=types.TextResourceContents(uri="file:///b.txt", text="bee")),
            types.EmbeddedResource(resource=types.BlobResourceContents(uri="file:///c.bin", blob="AAE=")),
        ],
        structured_content={"ok": True},
    )


async def main() -> None:
    server = Server("paged", on_list_tools=list_tools, on_call_tool=call_tool)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


if __name__ == "__main__":
    anyio.run(main)
