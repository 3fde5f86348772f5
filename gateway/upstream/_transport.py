"""Transports for one configured server, watched so we learn when the connection ends.

The SDK's `Client` does not say when its peer went away (a stdio child exited, an HTTP stream
dropped) until a request fails. We wrap the transport's read stream: when it ends, the
`on_closed` callback fires and the connection supervisor restarts the server.

Stdio environment: `_stdio` starts the child with *only* the SDK's `get_default_environment()` (on POSIX
`HOME`, `LOGNAME`, `PATH`, `SHELL`, `TERM`, `USER`) merged with the `env` of the server's
config. Nothing else of the gateway's environment reaches the child (no `AWS_*`, no proxies, no
`NODE_OPTIONS`); `docs/upstream.md` says so for users.
"""

from __future__ import annotations

import ssl
import sys
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TextIO

import anyio
import anyio.to_thread
import httpx2
from mcp.client import Transport
from mcp.client._transport import ReadStream, TransportStreams
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.message import SessionMessage

from gateway.config import RemoteServerConfig, StdioServerConfig
from gateway.streams import ReadStreamWrapper
from gateway.upstream._stdio import stdio_transport

__all__ = ["HTTP_READ_TIMEOUT_S", "MessageTooLargeError", "open_transport"]

_ReadStream = ReadStream[SessionMessage | Exception]

_SESSION_HEADER = "mcp-session-id"
HTTP_CONNECT_TIMEOUT_S = 30.0
HTTP_READ_TIMEOUT_S = 300.0
"""HTTP read timeout: long, because a server may hold a response stream open (the SDK's default)."""


class _WatchedReadStream(ReadStreamWrapper):
    """A read stream that calls `on_closed` once when it ends (EOF, closed, broken)."""

    def __init__(self, inner: _ReadStream, on_closed: Callable[[], None]) -> None:
        super().__init__(inner)
        self._on_closed = on_closed

    async def receive(self) -> SessionMessage | Exception:
        try:
            return await self._inner.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._on_closed()
            raise


@asynccontextmanager
async def _watched(inner: Transport, on_closed: Callable[[], None]) -> AsyncGenerator[TransportStreams, None]:
    async with inner as (read_stream, write_stream):
        try:
            yield _WatchedReadStream(read_stream, on_closed), write_stream
        finally:
            on_closed()


class MessageTooLargeError(httpx2.StreamError):
    """A server's HTTP response body was longer than its `max_message_bytes` (raised while reading it).

    A `StreamError`, so the SDK answers the request it belongs to with a JSON-RPC error carrying this
    message (instead of reading on), and the connection stays usable.
    """


class _BoundedStream(httpx2.AsyncByteStream):
    """A response body that raises `MessageTooLargeError` once more than `limit` bytes arrived."""

    def __init__(self, response: httpx2.Response, limit: int) -> None:
        self._inner = response.stream
        self._limit = limit
        declared = response.headers.get("content-length", "")
        self._declared = int(declared) if declared.isascii() and declared.isdigit() and len(declared) < 20 else None

    def _too_large(self, size: str) -> MessageTooLargeError:
        return MessageTooLargeError(
            f"the server sent a message of {size} bytes, over its limit of {self._limit} bytes "
            "(max_message_bytes); it was dropped unread"
        )

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._declared is not None and self._declared > self._limit:
            raise self._too_large(str(self._declared))
        assert isinstance(self._inner, AsyncIterable)
        seen = 0
        async for chunk in self._inner:
            seen += len(chunk)
            if seen > self._limit:
                raise self._too_large(f"more than {self._limit}")
            yield chunk

    async def aclose(self) -> None:
        if isinstance(self._inner, httpx2.AsyncByteStream):
            await self._inner.aclose()


def _body_bounder(limit: int) -> Callable[[httpx2.Response], Awaitable[None]]:
    """A response hook bounding every body but an event stream's (the SDK bounds SSE events itself)."""

    async def bound(response: httpx2.Response) -> None:
        # The SDK reads a JSON body whole (`aread`): bound it before it does.
        if not response.headers.get("content-type", "").lower().startswith("text/event-stream"):
            response.stream = _BoundedStream(response, limit)

    return bound


@asynccontextmanager
async def _http(
    config: RemoteServerConfig, on_session_expired: Callable[[], None]
) -> AsyncGenerator[TransportStreams, None]:
    timeout = httpx2.Timeout(HTTP_CONNECT_TIMEOUT_S, read=HTTP_READ_TIMEOUT_S)

    bound_body = _body_bounder(config.max_message_bytes)

    async def watch(response: httpx2.Response) -> None:
        # HTTP 404 to a request that carried our session id: the server forgot the session. The SDK
        # turns it into a JSON-RPC error whose text depends on the server; the status does not lie.
        if response.status_code == 404 and _SESSION_HEADER in response.request.headers:
            on_session_expired()
        await bound_body(response)

    verify = await _ssl_context()
    async with (
        httpx2.AsyncClient(
            headers=config.headers, timeout=timeout, event_hooks={"response": [watch]}, verify=verify
        ) as http,
        streamable_http_client(config.url, http_client=http, max_sse_event_size=config.max_message_bytes) as streams,
    ):
        yield streams


@asynccontextmanager
async def _sse(config: RemoteServerConfig) -> AsyncGenerator[TransportStreams, None]:
    verify = await _ssl_context()

    def client_factory(
        headers: dict[str, str] | None = None, timeout: httpx2.Timeout | None = None, auth: httpx2.Auth | None = None
    ) -> httpx2.AsyncClient:
        if timeout is None:
            timeout = httpx2.Timeout(HTTP_CONNECT_TIMEOUT_S, read=HTTP_READ_TIMEOUT_S)
        hooks = {"response": [_body_bounder(config.max_message_bytes)]}
        return httpx2.AsyncClient(headers=headers, timeout=timeout, auth=auth, verify=verify, event_hooks=hooks)

    async with sse_client(
        config.url, headers=dict(config.headers), timeout=HTTP_CONNECT_TIMEOUT_S, httpx_client_factory=client_factory
    ) as streams:
        yield streams


async def _ssl_context() -> ssl.SSLContext:
    """Httpx's default TLS context (CA bundle, `SSL_CERT_FILE`...), built in a worker thread.

    Loading the CA bundle reads and parses files for tens of milliseconds: an `AsyncClient` left
    to do it itself would block the event loop on every (re)connection.
    """
    return await anyio.to_thread.run_sync(httpx2.create_ssl_context)


def open_transport(
    name: str,
    config: StdioServerConfig | RemoteServerConfig,
    *,
    errlog: TextIO | None,
    on_closed: Callable[[], None],
    on_session_expired: Callable[[], None],
) -> Transport:
    """The transport for server `name`'s `config`, reporting its end through `on_closed`.

    Stdio is ours (`_stdio`: every message bounded by `max_message_bytes`); HTTP and SSE are the
    SDK's, with the response bodies and events bounded the same way (`_http`).

    `errlog` receives a stdio child's stderr (ignored for remote servers); `on_session_expired`
    is called when a streamable-HTTP server answers 404 to our session id.
    """
    inner: Transport
    match config:
        case StdioServerConfig():
            inner = stdio_transport(config, errlog=errlog if errlog is not None else sys.stderr, server=name)
        case RemoteServerConfig(type="sse"):
            inner = _sse(config)
        case RemoteServerConfig():
            inner = _http(config, on_session_expired)
    return _watched(inner, on_closed)
