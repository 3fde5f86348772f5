"""A plain tool source over real MCP SDK clients, for driving the traced wrappers directly.

A stand-in for the upstream fleet behind the same `BaseToolSource` seam: a `FunctionToolSource` whose
handler forwards to real SDK clients (real servers, no reconnects or catalog). It forwards
`options["meta"]` as the request `_meta`, which is what the fleet does with the `traceparent` that
`TracedToolSource` injects.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, cast

from mcp import Client, StdioServerParameters
from mcp_types import RequestParamsMeta
from mcp_types import TextContent as SdkText

from gateway.testing import FunctionToolSource, RecordedCall
from gateway.tools import TextContent, ToolResult, ToolSpec


def client_tool_source(clients: Mapping[str, Client], specs: Sequence[ToolSpec]) -> FunctionToolSource:
    """`specs` answered by the real SDK clients, forwarding `options["meta"]` as the request `_meta`."""

    async def forward(call: RecordedCall) -> ToolResult:
        meta: dict[str, Any] = dict((call.options or {}).get("meta", {}))
        result = await clients[call.ref.server].call_tool(
            call.ref.name, dict(call.arguments), meta=cast(RequestParamsMeta, meta) if meta else None
        )
        return ToolResult(
            content=tuple(TextContent(text=block.text) for block in result.content if isinstance(block, SdkText)),
            structured=result.structured_content,
            has_structured=result.structured_content is not None,
            is_error=bool(result.is_error),
        )

    return FunctionToolSource(specs, handler=forward)


@asynccontextmanager
async def open_clients(servers: Mapping[str, StdioServerParameters]) -> AsyncGenerator[FunctionToolSource]:
    async with AsyncExitStack() as stack:
        clients = {key: await stack.enter_async_context(Client(params)) for key, params in servers.items()}
        specs = [
            ToolSpec(server=server, name=tool.name)
            for server, client in clients.items()
            for tool in (await client.list_tools()).tools
        ]
        yield client_tool_source(clients, specs)
