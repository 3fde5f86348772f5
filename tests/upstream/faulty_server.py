"""An MCP server (Python SDK 2.x) that fails on demand, for the upstream and hardening tests.

Over stdio: `python faulty_server.py [--slow-start SECONDS]`; over streamable HTTP in-process:
`FaultyHttp(build_server().streamable_http_app(...))` with `tests.upstream._http.serve_http`
(wrap it in `HandshakeEra` as well for session expiry). Faults, selected per tool or flag:

| fault | how |
| --- | --- |
| crash mid-call | tool `crash()`: the process exits while the call is in flight |
| hang | tool `hang()`: never answers (until cancelled) |
| garbage on stdout | tool `garbage()`: non-JSON, invalid UTF-8 and stray replies on the wire, then an answer |
| slow answer | tool `slow(seconds)` |
| slow start | `--slow-start SECONDS`: silent that long before speaking MCP (stdio) |
| huge result | tool `huge(megabytes)`: a text result of that many million characters |
| HTTP 500 | `FaultyHttp.fail_next(n)`: the next n POSTs get HTTP 500 (streamable HTTP) |
| session expiry | `HandshakeEra.expire_sessions()` (see `_http.py`) |

Healthy tools: `echo(text)` and `pid()` (read-only and idempotent: safe to resend after a crash).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, BinaryIO

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp_types import ToolAnnotations

GARBAGE = (
    b"this is not JSON\n"
    b"\xff\xfe\xfa not UTF-8 either\n"
    b'{"jsonrpc": "2.0", "id": 987654321, "result": {}}\n'
    b'{"jsonrpc": "1.0", "method": 5}\n'
)


def build_server(wire: BinaryIO | None = None) -> MCPServer:
    """The server; `wire` is the raw stdio output (for `garbage`), None over HTTP."""
    server = MCPServer("faulty")

    @server.tool()
    def echo(text: str) -> str:
        """Return the text."""
        return text

    @server.tool(annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True))
    def pid() -> int:
        """The server's process id."""
        return os.getpid()

    @server.tool()
    def crash() -> str:
        """Exit the process in the middle of the call."""
        os._exit(3)

    @server.tool()
    async def hang() -> str:
        """Never answer."""
        await anyio.sleep_forever()
        return "unreachable"

    @server.tool()
    async def slow(seconds: float) -> str:
        """Answer after `seconds`."""
        await anyio.sleep(seconds)
        return f"slept {seconds:g} s"

    @server.tool()
    def huge(megabytes: float) -> str:
        """A text of `megabytes` million characters."""
        return "x" * int(megabytes * 1_000_000)

    @server.tool()
    def garbage() -> str:
        """Write garbage onto the wire, then answer normally."""
        if wire is None:
            return "no raw wire over this transport"
        wire.write(GARBAGE)
        wire.flush()
        return "after garbage"

    return server


class FaultyHttp:
    """ASGI middleware: the next `n` POST requests get an HTTP error instead of reaching the server."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._failures = 0
        self._status = 500
        self.failed = 0

    def fail_next(self, n: int, *, status: int = 500) -> None:
        self._failures, self._status = n, status

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and self._failures > 0:
            self._failures -= 1
            self.failed += 1
            await send(
                {"type": "http.response.start", "status": self._status, "headers": [(b"content-type", b"text/plain")]}
            )
            await send({"type": "http.response.body", "body": b"Internal Server Error"})
            return
        await self.app(scope, receive, send)


async def _serve_stdio(wire: BinaryIO) -> None:
    server = build_server(wire)
    lowlevel = server._lowlevel_server  # pyright: ignore[reportPrivateUsage]
    async with stdio_server() as (read_stream, write_stream):
        await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slow-start", type=float, default=0.0)
    parser.add_argument("--http", type=int, metavar="PORT", help="serve streamable HTTP on 127.0.0.1:PORT")
    parser.add_argument("--handshake-era", action="store_true", help="with --http: behave like a 2025-era server")
    args = parser.parse_args()
    time.sleep(args.slow_start)
    if args.http is not None:
        import uvicorn

        from tests.upstream._http import HandshakeEra

        app: Any = build_server().streamable_http_app()
        uvicorn.run(
            HandshakeEra(app) if args.handshake_era else app, host="127.0.0.1", port=args.http, log_level="warning"
        )
        return
    wire = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)  # the wire, before the SDK diverts fd 1
    anyio.run(_serve_stdio, wire)


if __name__ == "__main__":
    main()
