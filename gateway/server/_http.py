"""Streamable HTTP: the MCP endpoint, `/healthz`, DNS-rebinding protection and an optional bearer token.

What several replicas behind a load balancer share, and what they don't, is in docs/server.md:
in short, executions are self-contained (a fresh sandbox per call, results in the response), so
with `stateless = true` any replica can answer any request; with sessions (the default) a client
must keep reaching the replica that holds its `Mcp-Session-Id`.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import socket
from collections.abc import Awaitable, Callable, Generator
from contextlib import contextmanager
from typing import Final, Literal

import anyio
import uvicorn
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE, TransportSecuritySettings
from mcp_types import INVALID_REQUEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.config import ServeSettings
from gateway.errors import ConfigError
from gateway.server._server import GatewayServer

__all__ = ["HEALTH_PATH", "bind_socket", "create_http_app", "serve_asgi", "serve_http", "transport_security"]

logger = logging.getLogger(__name__)

HEALTH_PATH: Final = "/healthz"
LOOPBACK_HOSTS: Final = ("127.0.0.1", "localhost", "[::1]")
BACKLOG: Final = 2048
SHUTDOWN_GRACE_S: Final = 5


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def transport_security(settings: ServeSettings) -> TransportSecuritySettings:
    """Host/Origin checks: loopback names always, plus what the configuration adds.

    Binding anything but loopback without naming the accepted hosts is refused: a server on all
    interfaces that accepts any `Host` is exactly what DNS rebinding exploits.
    """
    if not _is_loopback(settings.host) and not settings.allowed_hosts:
        raise ConfigError(
            f"binding {settings.host!r} needs the Host names clients will use (DNS-rebinding protection)",
            key="serve.allowed_hosts",
        )
    hosts = [f"{name}:*" for name in LOOPBACK_HOSTS] + list(LOOPBACK_HOSTS) + settings.allowed_hosts
    origins = [f"http://{name}:*" for name in LOOPBACK_HOSTS] + [f"http://{name}" for name in LOOPBACK_HOSTS]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=hosts,
        allowed_origins=origins + settings.allowed_origins,
    )


class BearerTokenMiddleware:
    """Require `Authorization: Bearer <token>` on everything but the health endpoint."""

    def __init__(self, app: ASGIApp, *, token: str, exempt: frozenset[str]) -> None:
        self._app = app
        self._token = token.encode()
        self._exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._exempt:
            await self._app(scope, receive, send)
            return
        supplied = next((value for key, value in scope["headers"] if key == b"authorization"), b"")
        scheme, _, credentials = supplied.partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(credentials.strip(), self._token):
            response = JSONResponse(
                {"error": "unauthorized", "error_description": "a valid bearer token is required"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="ptc-gateway"'},
            )
            await response(scope, receive, send)
            return
        await self._app(scope, receive, send)


class JsonRpcTooLarge:
    """Turn the SDK's plain-text `413 Request body too large` into a JSON-RPC error body.

    MCP clients read a non-2xx answer's JSON-RPC error when the body is JSON (the SDK's client
    surfaces it as the request's error); a text body leaves them with "error response" and nothing
    to tell the user. The status stays 413.
    """

    def __init__(self, app: ASGIApp, *, limit_bytes: int) -> None:
        self._app = app
        self._body = json.dumps(
            {
                "jsonrpc": "2.0",
                "id": None,
                "error": {
                    "code": INVALID_REQUEST,
                    "message": f"Request body too large: this server accepts at most {limit_bytes} bytes per message",
                },
            }
        ).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        replacing = False

        async def rewrite(message: Message) -> None:
            nonlocal replacing
            if message["type"] == "http.response.start" and message["status"] == 413:
                replacing = True
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _BODY_HEADERS]
                headers += [(b"content-type", b"application/json"), (b"content-length", str(len(self._body)).encode())]
                await send({**message, "headers": headers})
            elif replacing and message["type"] == "http.response.body":
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": self._body})
            else:
                await send(message)

        await self._app(scope, receive, rewrite)


_BODY_HEADERS = frozenset({b"content-type", b"content-length"})


def _health_endpoint(server: GatewayServer) -> Callable[[Request], Awaitable[Response]]:
    async def health(request: Request) -> Response:
        # Liveness plus readiness in one: 200 as soon as the process serves; the body says whether
        # the catalog has anything yet. Deliberately no server names (the endpoint is unauthenticated).
        toolbox = await server.gateway.toolbox()
        tools = sum(len(namespace.tools) for namespace in toolbox.catalog.namespaces)
        return JSONResponse({"status": "ok", "tools": tools, "catalog_version": toolbox.version})

    return health


def create_http_app(server: GatewayServer) -> ASGIApp:
    """The ASGI app: `settings.path` (MCP), `/healthz`, security checks, optional bearer auth."""
    settings = server.gateway.settings.serve
    starlette: Starlette = server.server.streamable_http_app(
        streamable_http_path=settings.path,
        stateless_http=settings.stateless,
        transport_security=transport_security(settings),
        host=settings.host,
        custom_starlette_routes=[Route(HEALTH_PATH, _health_endpoint(server), methods=["GET"])],
    )
    app = JsonRpcTooLarge(starlette, limit_bytes=DEFAULT_MAX_REQUEST_BODY_SIZE)
    if settings.auth_token:
        return BearerTokenMiddleware(app, token=settings.auth_token, exempt=frozenset({HEALTH_PATH}))
    if not _is_loopback(settings.host):
        logger.warning("serving HTTP on %s without a bearer token (set PTC_AUTH_TOKEN)", settings.host)
    return app


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: the caller decides when to stop (`stop` event)."""

    @contextmanager
    def capture_signals(self) -> Generator[None]:
        yield


def bind_socket(host: str, port: int, *, key: str = "serve.port") -> socket.socket:
    """Bind the listening socket up front, so the actual port is known (port 0 picks a free one).

    `key` names the setting in the error when the address cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    # proto IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY on accepted sockets only when the
    # listening socket says TCP; without it a response written in two parts (headers, body) waits
    # ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as e:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror}", key=key) from e
    sock.listen(BACKLOG)  # listening before the URL is announced: early clients queue, never get refused
    return sock


async def serve_asgi(
    app: ASGIApp,
    *,
    host: str,
    port: int,
    stop: anyio.Event,
    lifespan: Literal["on", "off"] = "off",
    key: str = "serve.port",
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Serve `app` under uvicorn on `host:port` until `stop` is set, then shut down gracefully.

    `on_listening(base_url)` is called once the socket is bound (`http://host:port`, the real port).
    """
    sock = bind_socket(host, port, key=key)
    bound = sock.getsockname()[1]
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    config = uvicorn.Config(
        app,
        log_config=None,  # keep the CLI's logging (stderr, one format); uvicorn's default logs access to stdout
        log_level="warning",
        lifespan=lifespan,
        access_log=False,
        # Open SSE streams (GET, subscriptions/listen) never end on their own: cap the drain.
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
    )
    uv = _Uvicorn(config)

    async def stop_when_asked() -> None:
        await stop.wait()
        uv.should_exit = True

    with sock:
        async with anyio.create_task_group() as tg:
            tg.start_soon(stop_when_asked)
            if on_listening is not None:
                on_listening(f"http://{shown}:{bound}")
            await uv.serve(sockets=[sock])
            tg.cancel_scope.cancel()


async def serve_http(
    server: GatewayServer, *, stop: anyio.Event, on_listening: Callable[[str], None] | None = None
) -> None:
    """Serve streamable HTTP until `stop` is set, then shut down gracefully.

    `on_listening(url)` is called once the socket is bound, with the endpoint's URL.
    """
    settings = server.gateway.settings.serve

    def listening(base_url: str) -> None:
        url = base_url + settings.path
        logger.info("serving MCP on %s", url)
        if on_listening is not None:
            on_listening(url)

    await serve_asgi(
        create_http_app(server),
        host=settings.host,
        port=settings.port,
        stop=stop,
        lifespan="on",
        on_listening=listening,
    )
