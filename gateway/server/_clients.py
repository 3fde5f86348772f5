"""Who is connected, and how server-initiated messages reach them in each protocol era.

Handshake-era (2025-11-25) connections have a standalone channel (the stdio pipe, the HTTP GET
stream): `notifications/tools/list_changed` and upstream-failure log messages go there, to every
connection that completed `initialize`. 2026-07-28 connections have no standalone channel: tool
list changes travel on `subscriptions/listen` streams (the SDK's `ListenHandler` over our bus),
and log messages only ride the response stream of a request that opted in, so upstream failures
reach modern clients only while one of their executions is running.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Generator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, get_args

import anyio
import mcp_types as types
from mcp.server.connection import allowed_log_levels
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.session import ServerSession
from mcp.server.subscriptions import InMemorySubscriptionBus, ToolsListChanged
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from gateway.upstream import FleetEvent

__all__ = ["Clients"]

logger = logging.getLogger(__name__)

LOG_LEVELS: Final[tuple[types.LoggingLevel, ...]] = get_args(types.LoggingLevel)
DEFAULT_LOG_LEVEL: Final[types.LoggingLevel] = "info"
NOTIFY_TIMEOUT_S: Final = 2.0
MAX_REMEMBERED_CONNECTIONS: Final = 1024
"""Handshake connections remembered for broadcasts; the oldest is forgotten beyond this."""


@dataclass(slots=True)
class _Handshake:
    session: ServerSession
    level: types.LoggingLevel = DEFAULT_LOG_LEVEL


class Clients:
    """Connected clients, for notifications the server sends on its own initiative."""

    def __init__(self) -> None:
        self.bus = InMemorySubscriptionBus()
        """Events for `subscriptions/listen` streams (2026-07-28 clients)."""
        # Keyed by the identity of the connection's `initialize` params: stable for the
        # connection's life, and the SDK exposes nothing else per connection to a handler.
        self._handshakes: OrderedDict[int, _Handshake] = OrderedDict()
        self._running: dict[int, ServerRequestContext[Any, Any]] = {}
        self.on_upstream_event: Callable[[], None] | None = None
        """Called after each upstream event (the server re-checks its tool description)."""

    async def middleware(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        """Server middleware: remember every handshake-era connection that has initialized."""
        result = await call_next(ctx)
        self._remember(ctx.session)
        return result

    def _remember(self, session: ServerSession) -> None:
        params = session.client_params
        if params is None or session.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return
        key = id(params)
        if key in self._handshakes:
            self._handshakes[key].session = session
            self._handshakes.move_to_end(key)
            return
        self._handshakes[key] = _Handshake(session=session)
        while len(self._handshakes) > MAX_REMEMBERED_CONNECTIONS:
            self._handshakes.popitem(last=False)

    def set_level(self, session: ServerSession, level: types.LoggingLevel) -> None:
        """`logging/setLevel` from a handshake-era client."""
        self._remember(session)
        params = session.client_params
        if params is not None and id(params) in self._handshakes:
            self._handshakes[id(params)].level = level

    @contextmanager
    def running(self, ctx: ServerRequestContext[Any, Any]) -> Generator[None]:
        """Mark a `tools/call` as in flight so request-scoped logs can reach a modern client."""
        key = id(ctx)
        self._running[key] = ctx
        try:
            yield
        finally:
            del self._running[key]

    async def tools_changed(self) -> None:
        """Tell every client that the tool list (the tool's description) changed."""
        await self.bus.publish(ToolsListChanged())
        for handshake in list(self._handshakes.values()):
            await _send(handshake.session, types.ToolListChangedNotification())

    async def upstream_event(self, event: FleetEvent) -> None:
        """`on_event` for the fleet: upstream failures and recoveries as MCP log messages."""
        # The fleet has logged it already; this is the copy for MCP clients.
        await self.log(event.level, event.message)
        if self.on_upstream_event is not None:
            self.on_upstream_event()

    async def log(self, level: types.LoggingLevel, data: str, *, logger_name: str = "ptc-gateway.upstream") -> None:
        """Send a log message to every client that listens at `level`."""
        notification = types.LoggingMessageNotification(
            params=types.LoggingMessageNotificationParams(level=level, data=data, logger=logger_name)
        )
        for handshake in list(self._handshakes.values()):
            if LOG_LEVELS.index(level) >= LOG_LEVELS.index(handshake.level):
                await _send(handshake.session, notification)
        for ctx in list(self._running.values()):
            if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS and level in allowed_log_levels(
                ctx.protocol_version, ctx.meta
            ):
                await _send(ctx.session, notification, related_request_id=ctx.request_id)


async def _send(
    session: ServerSession, notification: types.ServerNotification, *, related_request_id: types.RequestId | None = None
) -> None:
    """Best-effort: a gone or stuck client must not stall the fleet's event path or the catalog watcher.

    The SDK already drops notifications for closed channels; the timeout covers a client that stopped
    reading its end of the pipe.
    """
    with anyio.move_on_after(NOTIFY_TIMEOUT_S) as scope:
        await session.send_notification(notification, related_request_id=related_request_id)
    if scope.cancelled_caught:
        logger.debug("dropped %s: the client did not take it within %.0f s", notification.method, NOTIFY_TIMEOUT_S)
