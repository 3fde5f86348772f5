"""A plain tool source over real MCP SDK clients, for driving the traced wrappers directly.

A stand-in for the upstream fleet behind the same `BaseToolSource` seam: real servers, real SDK
client, no reconnects or catalog. It forwards `options["meta"]` as the request `_meta`, which is
what the fleet does with the `traceparent` `TracedToolSource` injects.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, cast

from mcp import Client, StdioServerParameters
from mcp_types import RequestParamsMeta
from mcp_types import TextContent as SdkText

from gateway.tools import BaseToolSource, CallOptions, JsonValue, TextContent, ToolRef, ToolResult, ToolSpec


class ClientToolSource(BaseToolSource):
    def __init__(self, clients: Mapping[str, Client]) -> None:
        self._clients = dict(clients)

    async def list_tools(self) -> Sequence[ToolSpec]:
        specs: list[ToolSpec] = []
        for server, client in self._clients.items():
            listed = await client.list_tools()
            specs += [ToolSpec(server=server, name=tool.name) for tool in listed.tools]
        return specs

    async def call_tool(
        self, ref: ToolRef, arguments: Mapping[str, JsonValue], *, options: CallOptions | None = None
    ) -> ToolResult:
        meta: dict[str, Any] = dict((options or {}).get("meta", {}))
        result = await self._clients[ref.server].call_tool(
            ref.name, dict(arguments), meta=cast(RequestParamsMeta, meta) if meta else None
        )
        return ToolResult(
            content=tuple(TextContent(text=block.text) for block in result.content if isinstance(block, SdkText)),
            structured=result.structured_content,
            has_structured=result.structured_content is not None,
            is_error=bool(result.is_error),
        )


@asynccontextmanager
async def open_clients(servers: Mapping[str, StdioServerParameters]) -> AsyncGenerator[ClientToolSource]:
    async with AsyncExitStack() as stack:
        clients = {key: await stack.enter_async_context(Client(params)) for key, params in servers.items()}
        yield ClientToolSource(clients)
