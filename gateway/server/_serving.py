"""Composition for `ptc-gateway serve`: settings in, a served gateway out."""

from __future__ import annotations

import codecs
import io
import logging
import os
import stat
import sys
from collections.abc import AsyncGenerator, AsyncIterator
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
    """Serve one client over this process's stdin/stdout until it disconnects (or the call is cancelled).

    While serving, the SDK points fd 1 at stderr, so nothing but protocol reaches stdout. A line that
    fails to parse is answered with the JSON-RPC error (`AnsweringReadStream`), not left unanswered.
    When stdin is a pipe or socket (what MCP clients give) it is read on the event loop, so
    cancelling (a signal) stops at once; the SDK's own reader blocks a thread in `readline` that
    cancellation waits for until the client writes or closes.
    """
    stdin = _PipeLines.open(sys.stdin.fileno())
    try:
        async with stdio_server(stdin=stdin) as (read_stream, write_stream):
            answering = AnsweringReadStream(read_stream, write_stream)
            await server.server.run(answering, write_stream, server.server.create_initialization_options())
    finally:
        if stdin is not None:
            stdin.restore()


class _PipeLines(anyio.AsyncFile[str]):
    """The lines of a pipe (or socket) read without blocking on the event loop; only `async for` is supported."""

    @classmethod
    def open(cls, fd: int) -> _PipeLines | None:
        """A reader for `fd` when it is a pipe or socket, else None (use the SDK's reader)."""
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            return None
        if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
            return None
        return cls(fd)

    def __init__(self, fd: int) -> None:
        super().__init__(io.StringIO())  # never read: the lines come from `fd`
        self._fd = fd
        self._was_blocking = os.get_blocking(fd)
        os.set_blocking(fd, False)  # the flag is on the shared description: `restore` puts it back

    def restore(self) -> None:
        """Put the descriptor back in its original blocking mode."""
        try:
            os.set_blocking(self._fd, self._was_blocking)
        except OSError:
            pass

    async def __aiter__(self) -> AsyncIterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""
        while True:
            try:
                data = os.read(self._fd, _READ_BYTES)
            except BlockingIOError:
                await anyio.wait_readable(self._fd)
                continue
            if not data:
                pending += decoder.decode(b"", final=True)
                if pending:
                    yield pending
                return
            pending += decoder.decode(data)
            *lines, pending = pending.split("\n")
            for line in lines:
                yield line + "\n"


_READ_BYTES = 64 * 1024
