"""Composition for `ptc-gateway serve`: settings in, a served gateway out."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

import anyio
from mcp.server.stdio import stdio_server

from gateway.app import open_gateway
from gateway.config import GatewaySettings
from gateway.sandbox import BaseSandboxBackend
from gateway.server._clients import Clients
from gateway.server._server import GatewayServer
from gateway.server._unparsable import AnsweringReadStream

__all__ = ["open_server", "serve_stdio"]

logger = logging.getLogger(__name__)


@asynccontextmanager
async def open_server(
    settings: GatewaySettings, *, backend: BaseSandboxBackend | None = None
) -> AsyncGenerator[GatewayServer, None]:
    """Open the gateway (fleet connecting in the background) and the server around it.

    Yields at once, without waiting for any upstream server. While open, catalog changes are pushed
    to connected clients. Pass `backend` to use another sandbox backend than the configured one.
    """
    clients = Clients()
    async with open_gateway(settings, on_event=clients.upstream_event, backend=backend) as gateway:
        server = GatewayServer(gateway, clients=clients)
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.watch_catalog, name="catalog-watcher")
            try:
                yield server
            finally:
                tg.cancel_scope.cancel()


async def serve_stdio(server: GatewayServer) -> None:
    """Serve one client over this process's stdin/stdout until it disconnects.

    While serving, the SDK points fd 1 at stderr, so nothing but protocol reaches stdout. A line that
    fails to parse is answered with the JSON-RPC error (`AnsweringReadStream`), not left unanswered.
    """
    async with stdio_server() as (read_stream, write_stream):
        answering = AnsweringReadStream(read_stream, write_stream)
        await server.server.run(answering, write_stream, server.server.create_initialization_options())
