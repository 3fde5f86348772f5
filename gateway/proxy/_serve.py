"""`serve_proxy`: the proxy app under uvicorn (the same serving loop as `serve --transport http`)."""

from __future__ import annotations

from collections.abc import Callable

import anyio
from starlette.types import ASGIApp

from gateway.server import serve_asgi

__all__ = ["serve_proxy"]


async def serve_proxy(
    app: ASGIApp, *, host: str, port: int, stop: anyio.Event, on_listening: Callable[[str], None] | None = None
) -> None:
    """Serve `app` on `host:port` (0 picks a free port) until `stop` is set; `on_listening(url)` once bound."""
    await serve_asgi(app, host=host, port=port, stop=stop, key="proxy.port", on_listening=on_listening)
