"""`serve_proxy`: the proxy app under uvicorn, on a socket bound up front, until `stop` is set."""

from __future__ import annotations

import socket
from collections.abc import Callable, Generator
from contextlib import contextmanager

import anyio
import uvicorn
from starlette.types import ASGIApp

from gateway.errors import ConfigError

__all__ = ["serve_proxy"]

SHUTDOWN_GRACE_S = 5
BACKLOG = 1024


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: the caller decides when to stop."""

    @contextmanager
    def capture_signals(self) -> Generator[None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    # proto IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY on accepted sockets only when the
    # listening socket says TCP; without it every response (headers and body are two writes) waits
    # ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as e:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror}", key="proxy.port") from e
    sock.listen(BACKLOG)
    return sock


async def serve_proxy(
    app: ASGIApp, *, host: str, port: int, stop: anyio.Event, on_listening: Callable[[str], None] | None = None
) -> None:
    """Serve `app` on `host:port` (0 picks a free port) until `stop` is set; `on_listening(url)` once bound."""
    sock = _bind(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level="warning",
        lifespan="off",
        access_log=False,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
    )
    server = _Uvicorn(config)

    async def stop_when_asked() -> None:
        await stop.wait()
        server.should_exit = True

    with sock:
        async with anyio.create_task_group() as tg:
            tg.start_soon(stop_when_asked)
            if on_listening is not None:
                on_listening(f"http://{shown}:{bound}")
            await server.serve(sockets=[sock])
            tg.cancel_scope.cancel()
