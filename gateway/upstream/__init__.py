"""The upstream MCP fleet: connect to every configured server, list their tools, route calls.

    async with connect_fleet(settings.resolved_servers(), on_event=show) as fleet:
        await fleet.wait_ready(timeout_s=30)          # optional: connect_fleet returns at once
        tools = await fleet.list_tools()               # ToolSpec of every server that is up
        result = await fleet.call_tool(ToolRef(server="time", name="get_current_time"), {...})

Works with servers of both protocol eras (2026-07-28 and 2025-11-25), over stdio, streamable HTTP
and legacy SSE. SDK types stop here: callers see `ToolSpec` / `ToolResult` and our errors only.
See docs/upstream.md.
"""

from gateway.upstream._connection import (
    BACKOFF_INITIAL_S,
    BACKOFF_MAX_S,
    FleetEvent,
    FleetEventHandler,
    ServerState,
    ServerStatus,
    describe_server,
)
from gateway.upstream._fleet import Fleet, connect_fleet

__all__ = [
    "BACKOFF_INITIAL_S",
    "BACKOFF_MAX_S",
    "Fleet",
    "FleetEvent",
    "FleetEventHandler",
    "ServerState",
    "ServerStatus",
    "connect_fleet",
    "describe_server",
]
