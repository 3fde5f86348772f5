"""The fleet: every configured server behind one `BaseToolSource`.

`connect_fleet` returns at once; each server connects in its own supervisor task, so no caller
ever waits for the slowest (or a hanging) server unless it asks to (`wait_ready`).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import asynccontextmanager

import anyio
import anyio.to_thread

from gateway.config import RemoteServerConfig, StdioServerConfig
from gateway.errors import UnknownToolError
from gateway.tools import BaseToolSource, CallOptions, JsonValue, ToolRef, ToolResult, ToolSpec
from gateway.upstream._connection import FleetEventHandler, ServerConnection, ServerStatus

__all__ = ["Fleet", "connect_fleet"]

logger = logging.getLogger(__name__)


class Fleet(BaseToolSource):
    """The connected servers: a cached, deterministic catalog and calls routed by server key."""

    def __init__(
        self,
        servers: Mapping[str, StdioServerConfig | RemoteServerConfig],
        *,
        on_event: FleetEventHandler | None = None,
    ) -> None:
        self._version = 0
        self._changed = anyio.Event()
        self._connections = {
            name: ServerConnection(name, servers[name], on_catalog_changed=self._catalog_changed, on_event=on_event)
            for name in sorted(servers)
        }

    # ---- catalog --------------------------------------------------------------------------------

    async def list_tools(self) -> Sequence[ToolSpec]:
        """The tools of every server that is up, ordered by server key then tool name."""
        return [tool for connection in self._connections.values() for tool in connection.tools]

    async def find_tool(self, ref: ToolRef) -> ToolSpec | None:
        """The tool's spec from its server's cached catalog (a dictionary lookup)."""
        connection = self._connections.get(ref.server)
        return None if connection is None else connection.tool(ref.name)

    def descriptions(self) -> Mapping[str, str]:
        """Server key -> what the server says about itself (title and `instructions`), for those that did.

        Pass it to `build_catalog(..., descriptions=...)`: it becomes the namespace's docstring.
        Changes with the catalog `version` (a reconnected server may describe itself anew).
        """
        return {
            name: connection.description
            for name, connection in self._connections.items()
            if connection.description is not None
        }

    @property
    def version(self) -> int:
        """Bumped whenever the catalog changes (a server came up, went down, or changed its tools)."""
        return self._version

    async def wait_changed(self, seen_version: int) -> int:
        """Wait until the catalog version differs from `seen_version`; return the new version."""
        while self._version == seen_version:
            await self._changed.wait()
        return self._version

    async def wait_ready(self, timeout_s: float | None = None) -> None:
        """Wait until every server had its first connection attempt (success or failure).

        Raises:
            TimeoutError: `timeout_s` elapsed first.
        """
        with anyio.fail_after(timeout_s):
            for connection in self._connections.values():
                await connection.first_attempt_done.wait()

    def status(self) -> Mapping[str, ServerStatus]:
        """Per server (by key, sorted): state, last error, tool count, protocol version."""
        return {name: connection.status() for name, connection in self._connections.items()}

    def _catalog_changed(self) -> None:
        self._version += 1
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    # ---- calls ----------------------------------------------------------------------------------

    async def call_tool(
        self, ref: ToolRef, arguments: Mapping[str, JsonValue], *, options: CallOptions | None = None
    ) -> ToolResult:
        """Call `ref` on its server.

        Raises:
            UnknownToolError: no such server, or the server's current catalog has no such tool.
            ServerUnavailableError: the server is down or did not answer within the call timeout.
            UpstreamError: the server answered with something that is not a valid result.
        """
        connection = self._connections.get(ref.server)
        if connection is None:
            raise UnknownToolError(f"no server {ref.server!r} is configured", server=ref.server)
        if connection.tools and connection.tool(ref.name) is None:
            raise UnknownToolError(f"server {ref.server!r} has no tool {ref.name!r}", server=ref.server)
        return await connection.call_tool(ref.name, dict(arguments), options)

    async def _run(self) -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.to_thread.run_sync, _preload_lazy_imports, name="mcp-preload")
            for connection in self._connections.values():
                tg.start_soon(connection.run, name=f"mcp-server:{connection.name}")


_LAZY_IMPORTS = ("jsonschema",)
"""Modules the SDK imports on first use inside a call: `jsonschema` (for results with an output
schema) reads its metaschemas from disk at import, ~0.1 s that would stall the event loop on the
first such call; a worker thread imports them up front instead."""


def _preload_lazy_imports() -> None:
    for name in _LAZY_IMPORTS:
        try:
            importlib.import_module(name)
        except ImportError:  # optional: the SDK imports it lazily and copes without it
            logger.debug("could not preload %s", name, exc_info=True)


@asynccontextmanager
async def connect_fleet(
    servers: Mapping[str, StdioServerConfig | RemoteServerConfig],
    *,
    on_event: FleetEventHandler | None = None,
) -> AsyncGenerator[Fleet, None]:
    """Start connecting to every server and yield the fleet at once.

    Servers come up in the background (`Fleet.wait_ready` waits for their first attempt). On exit
    every connection is closed; stdio children get the SDK's shielded shutdown (stdin closed, a
    grace period, then the process group is killed), so none is left behind.
    """
    fleet = Fleet(servers, on_event=on_event)
    logger.info("connecting to %d MCP servers: %s", len(servers), ", ".join(sorted(servers)) or "(none)")
    async with anyio.create_task_group() as tg:
        tg.start_soon(fleet._run, name="mcp-fleet")  # pyright: ignore[reportPrivateUsage]
        try:
            yield fleet
        finally:
            tg.cancel_scope.cancel()
