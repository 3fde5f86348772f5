"""Serve an SDK 2.x server over streamable HTTP on 127.0.0.1, in-process, for one test.

`HandshakeEra` wraps the real ASGI app so it behaves like a deployed 2025-era server: it answers
`server/discover` with HTTP 404 (so the client falls back to the `initialize` handshake and gets
an `Mcp-Session-Id`), and `expire_sessions()` makes the real session manager forget the sessions
issued so far: their next request gets the SDK server's own `404 Session not found`.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import uvicorn

__all__ = ["HandshakeEra", "serve_http"]

Scope = dict[str, Any]
Message = dict[str, Any]


class HandshakeEra:
    """ASGI middleware: no `server/discover`, and sessions that can be expired on demand."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.issued: set[bytes] = set()
        self.expired: set[bytes] = set()
        self.discover_refused = 0

    def expire_sessions(self) -> None:
        self.expired |= self.issued

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = list(scope["headers"])
        rewritten = [
            (key, b"forgotten-" + value if key == b"mcp-session-id" and value in self.expired else value)
            for key, value in headers
        ]
        scope = {**scope, "headers": rewritten}

        body = b""
        if scope["method"] == "POST":
            more = True
            while more:
                message = await receive()
                body += message.get("body", b"")
                more = message.get("more_body", False)
            if b'"server/discover"' in body:
                self.discover_refused += 1
                await send(
                    {"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"text/plain")]}
                )
                await send({"type": "http.response.body", "body": b"Not Found"})
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if scope["method"] == "POST" and not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def record(message: Message) -> None:
            if message["type"] == "http.response.start":
                for key, value in message.get("headers", []):
                    if key.lower() == b"mcp-session-id":
                        self.issued.add(value)
            await send(message)

        await self.app(scope, replay, record)


@asynccontextmanager
async def serve_http(app: Any) -> AsyncGenerator[str, None]:
    """Run `app` with uvicorn on a free loopback port; yield the MCP endpoint URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", ws="none", timeout_graceful_shutdown=2)
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve, [sock])
        with anyio.fail_after(10):
            while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
                await anyio.sleep(0.01)
        try:
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            server.should_exit = True
    sock.close()
