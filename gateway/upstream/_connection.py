"""One upstream server: connect, list, call, notice the end of the connection, reconnect.

A `ServerConnection` is driven by `run()`, its supervisor, one task per server in the fleet's task
group. Everything that can go wrong with one server stays inside its supervisor: the failure is
logged, reported as a `FleetEvent`, and retried with capped exponential backoff.

Life of a connection::

    starting ──connect+list ok──▶ ready ──child exits / stream ends / HTTP 404──▶ starting (restart)
        │                           ▲                                                 │
        └──fails / hangs──▶ failed ─┴──────────── backoff 1 s, 2 s, 4 s … 60 s ◀───────┘ (fails again)

Both protocol eras come from the SDK's `mode="auto"`: it probes `server/discover` (2026-07-28) and
falls back to the `initialize` handshake (2025-11-25 and earlier). Tool-list changes arrive as
`notifications/tools/list_changed` through the message handler on a handshake-era connection, and
through a `subscriptions/listen` stream on a modern one.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Literal, TextIO, cast
from urllib.parse import urlsplit

import anyio
import mcp_types as types
import pydantic_core
from mcp import Client, MCPError
from mcp.client.session import IncomingMessage
from mcp.client.subscriptions import ListenNotSupportedError, SubscriptionLost
from mcp_types import CONNECTION_CLOSED, INVALID_REQUEST, REQUEST_TIMEOUT
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from gateway import __version__
from gateway.config import RemoteServerConfig, StdioServerConfig
from gateway.errors import ServerUnavailableError, UpstreamError
from gateway.tools import CallOptions, JsonValue, ToolResult, ToolSpec
from gateway.upstream._convert import error_result, request_meta, tool_result, tool_spec
from gateway.upstream._stderr import StderrTail, relay_stderr
from gateway.upstream._transport import open_transport

__all__ = [
    "BACKOFF_INITIAL_S",
    "BACKOFF_MAX_S",
    "FleetEvent",
    "FleetEventHandler",
    "ServerConnection",
    "ServerState",
    "ServerStatus",
]

logger = logging.getLogger(__name__)

BACKOFF_INITIAL_S = 1.0
"""Delay before the first retry of a server that failed; doubles on each further failure."""
BACKOFF_MAX_S = 60.0
"""Cap of the retry delay."""
STABLE_AFTER_S = 30.0
"""A connection that lived this long resets the backoff when it ends; a shorter one counts as a failure."""
LIST_PAGES_MAX = 1000
"""A paginator that never ends cannot hang the catalog."""
LISTEN_RETRY_S = 1.0
"""Pause before re-opening a `subscriptions/listen` stream the server dropped."""
CLIENT_NAME = "ptc-gateway"

ServerState = Literal["starting", "ready", "failed", "disabled"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerStatus:
    """What the fleet knows about one server right now."""

    state: ServerState
    error: str | None = None
    """Why the server is not ready (the last failure), or None."""
    tool_count: int = 0
    protocol_version: str | None = None
    """The negotiated protocol version ("2026-07-28", "2025-11-25", …) once connected."""
    description: str | None = None
    """What the server says about itself (its title and MCP `instructions`) once connected, or None."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetEvent:
    """A failure or a recovery of one server, for whoever shows them to a user (MCP log messages)."""

    server: str
    level: Literal["info", "warning", "error"]
    message: str


FleetEventHandler = Callable[[FleetEvent], Awaitable[None]]


def _backoff_s(failures: int) -> float:
    """Delay before the next attempt after `failures` consecutive failures (0 → none)."""
    return 0.0 if failures <= 0 else min(BACKOFF_INITIAL_S * 2 ** (failures - 1), BACKOFF_MAX_S)


class _Signal:
    """A level-triggered wake-up: `set()` any number of times, one `wait()` consumes them all."""

    def __init__(self) -> None:
        self._event = anyio.Event()

    def set(self) -> None:
        self._event.set()

    async def wait(self) -> None:
        await self._event.wait()
        self._event = anyio.Event()


@dataclass(slots=True)
class _Live:
    """The current connection: the SDK client and the events set when it ended."""

    client: Client
    lost: anyio.Event
    expired: anyio.Event
    """The HTTP server forgot our session (404): requests failing now never ran."""


class _ConnectError(Exception):
    """Connecting or listing failed; the message is already written for a human."""


def describe_error(exc: BaseException) -> str:
    """One line for an exception, unwrapping exception groups down to their leaves."""
    if isinstance(exc, BaseExceptionGroup):
        group = cast("BaseExceptionGroup[BaseException]", exc)
        leaves = [describe_error(each) for each in group.exceptions]
        return "; ".join(dict.fromkeys(leaves))
    text = str(exc).strip()
    match exc:
        case MCPError():
            return text or "MCP error"
        case FileNotFoundError() | PermissionError():
            return f"{type(exc).__name__}: {exc.strerror or text}" + (f": {exc.filename!r}" if exc.filename else "")
        case TimeoutError():
            return text or "timed out"
        case _:
            return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def describe_server(*, title: str | None, instructions: str | None) -> str | None:
    """A server's namespace docstring: its title, then its MCP `instructions`; None when it sent neither.

    Both come from the server, so the text is as deterministic as its tool list.
    """
    parts = [text.strip() for text in (title, instructions) if text and text.strip()]
    return "\n\n".join(parts) or None


def _server_title(client: Client) -> str | None:
    info = client.server_info
    return info.title if info is not None else None


def _session_expired(error: MCPError) -> bool:
    """The streamable-HTTP transport's spelling of "HTTP 404 for our session id"."""
    return error.code == INVALID_REQUEST and error.message == "Session terminated"


def _event_too_large(error: MCPError) -> bool:
    """The streamable-HTTP transport's spelling of "an SSE event went over `max_sse_event_size`"."""
    return (
        error.code == CONNECTION_CLOSED
        and error.message.startswith("SSE stream failed")
        and ("byte limit" in error.message)
    )


def _unsendable(arguments: dict[str, JsonValue]) -> str | None:
    r"""Why the SDK could not serialise `arguments`, or None.

    The SDK serialises a request in its transport's writer task, where a failure ends the whole
    connection (every call in flight to the server fails; a stdio server is restarted). The code in
    the sandbox can send what the host's `json.loads` accepts and the SDK's serialiser refuses: a lone
    surrogate (`"\ud800"`) or arguments nested deeper than its limit; so the same serialiser checks
    them first, and only this call fails.
    """
    try:
        pydantic_core.to_json(arguments)
    except pydantic_core.PydanticSerializationError as e:
        return str(e).removeprefix("Error serializing to JSON: ")[:200]
    return None


class ServerConnection:
    """One configured server, connected and reconnected by `run()`."""

    def __init__(
        self,
        name: str,
        config: StdioServerConfig | RemoteServerConfig,
        *,
        on_catalog_changed: Callable[[], None],
        on_event: FleetEventHandler | None,
    ) -> None:
        self.name = name
        self.config = config
        self._on_catalog_changed = on_catalog_changed
        self._on_event = on_event
        self._state: ServerState = "disabled" if config.disabled else "starting"
        self._error: str | None = None
        self._tools: tuple[ToolSpec, ...] = ()
        self._by_name: dict[str, ToolSpec] = {}
        self._protocol_version: str | None = None
        self._description: str | None = None
        self._live: _Live | None = None
        self._state_changed = anyio.Event()
        self._error_reported = False
        self.first_attempt_done = anyio.Event()
        """Set once the first connection attempt finished, whatever its outcome."""

    # ---- what the fleet reads -------------------------------------------------------------

    @property
    def tools(self) -> tuple[ToolSpec, ...]:
        """The cached catalog; empty unless the server is ready (or restarting after a loss)."""
        return self._tools

    def tool(self, name: str) -> ToolSpec | None:
        """One tool of the cached catalog, by its original name."""
        return self._by_name.get(name)

    @property
    def description(self) -> str | None:
        """The server's title and `instructions` (see `describe_server`), None when it sent neither."""
        return self._description

    def status(self) -> ServerStatus:
        """A snapshot of this server's state."""
        return ServerStatus(
            state=self._state,
            error=self._error,
            tool_count=len(self._tools),
            protocol_version=self._protocol_version,
            description=self._description,
        )

    # ---- supervisor ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, serve until the connection ends, reconnect; forever (until cancelled)."""
        if self.config.disabled:
            self.first_attempt_done.set()
            return
        failures = 0
        while True:
            try:
                uptime = await self._connect_and_serve()
            except _ConnectError as exc:
                failures += 1
                delay = _backoff_s(failures)
                message = f"server {self.name!r} is unavailable: {exc}; retrying in {delay:g} s"
                logger.error("%s", message)
                self._set_failed(str(exc))
                await self._emit("error", message)
            except Exception as exc:  # boundary: a bug or an SDK surprise with one server stays with that server
                failures += 1
                delay = _backoff_s(failures)
                message = f"server {self.name!r} failed: {describe_error(exc)}; retrying in {delay:g} s"
                logger.exception("%s", message)
                self._set_failed(describe_error(exc))
                await self._emit("error", message)
            else:
                # A first loss reconnects at once (a crash, an expired session); a connection that
                # keeps dying young backs off like a failure.
                failures = 0 if uptime >= STABLE_AFTER_S else failures + 1
                delay = _backoff_s(failures - 1) if failures else 0.0
                message = f"server {self.name!r} connection ended; restarting" + (f" in {delay:g} s" if delay else "")
                logger.warning("%s", message)
                await self._emit("warning", message)
            finally:
                self.first_attempt_done.set()
            await anyio.sleep(delay)

    async def _connect_and_serve(self) -> float:
        """One connection's life. Returns how long it was up; raises `_ConnectError` if it never was."""
        failure: BaseException | None = None
        uptime = 0.0
        tail: StderrTail | None = None
        ready = anyio.Event()
        # One cancel scope around the whole connection (the SDK client's task groups must nest
        # inside it); its deadline bounds the handshake and the first listing only.
        connect_scope = anyio.CancelScope(deadline=anyio.current_time() + self.config.timeout)
        try:
            with connect_scope:
                async with AsyncExitStack() as stack:
                    errlog: TextIO | None = None
                    if isinstance(self.config, StdioServerConfig):
                        errlog, tail = await stack.enter_async_context(relay_stderr(self.name))
                    live, refresh = self._new_client(errlog)
                    try:
                        await stack.enter_async_context(live.client)
                        tools = await self._list_tools(live.client)
                    except Exception as exc:  # boundary: whatever one server does wrong stays with that server
                        failure = exc
                    else:
                        connect_scope.deadline = math.inf
                        ready.set()
                        uptime = await self._serve(live, tools, refresh=refresh)
        except Exception as exc:  # boundary: as above, for what the SDK raises while tearing down
            if not ready.is_set():
                failure = exc
            else:
                # The connection was up and ended with an error (the SDK's HTTP transport tears down
                # with the error that ended it, e.g. a server that went away): a loss, not a bug.
                logger.warning("server %r: connection ended: %s", self.name, describe_error(exc))
                uptime = uptime or 1e-9
        # Explained only now: the stderr relay has drained what a dying child said.
        if connect_scope.cancel_called and uptime == 0.0:
            raise _ConnectError(self._explain(TimeoutError(), tail))
        if failure is not None:
            raise _ConnectError(self._explain(failure, tail)) from failure
        return uptime

    def _new_client(self, errlog: TextIO | None) -> tuple[_Live, _Signal]:
        """An SDK client (not yet entered) wired to this connection's events."""
        lost = anyio.Event()
        expired = anyio.Event()
        refresh = _Signal()

        def session_expired() -> None:
            expired.set()
            lost.set()

        async def on_message(message: IncomingMessage) -> None:
            if isinstance(message, types.ToolListChangedNotification):
                refresh.set()
            elif isinstance(message, Exception):
                logger.warning("server %r transport error: %s", self.name, describe_error(message))

        client = Client(
            open_transport(
                self.name, self.config, errlog=errlog, on_closed=lost.set, on_session_expired=session_expired
            ),
            message_handler=on_message,
            client_info=types.Implementation(name=CLIENT_NAME, version=__version__),
            cache=None,  # we keep our own catalog; every tools/list goes to the server
        )
        return _Live(client=client, lost=lost, expired=expired), refresh

    async def _serve(self, live: _Live, tools: tuple[ToolSpec, ...], *, refresh: _Signal) -> float:
        """Publish the connection, keep its catalog fresh until it ends; return how long it lived."""
        started = anyio.current_time()
        client, lost = live.client, live.lost
        self._protocol_version = client.protocol_version
        self._live = live
        self._set_catalog(
            tools, description=describe_server(title=_server_title(client), instructions=client.instructions)
        )
        self._set_state("ready", error=None)
        self.first_attempt_done.set()
        logger.info("server %r ready: %d tools, protocol %s", self.name, len(tools), self._protocol_version or "?")
        if self._error_reported:
            self._error_reported = False
            await self._emit("info", f"server {self.name!r} is back: {len(tools)} tools")
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._refresher, live, refresh)
                if client.protocol_version in MODERN_PROTOCOL_VERSIONS:
                    tg.start_soon(self._listener, client, refresh, lost)
                await lost.wait()
                tg.cancel_scope.cancel()
        finally:
            self._live = None
            if self._state == "ready":
                self._set_state("starting", error="connection lost; restarting")
        return max(anyio.current_time() - started, 1e-9)

    def _explain(self, exc: BaseException, tail: StderrTail | None) -> str:
        if isinstance(exc, TimeoutError):
            text = f"no answer to the MCP handshake within {self.config.timeout:g} s"
        else:
            text = describe_error(exc)
        said = tail.describe() if tail is not None else ""
        if isinstance(self.config, StdioServerConfig):
            command = " ".join([self.config.command, *self.config.args])
            text = f"{text} (command: {command})"
        else:
            # Scheme, host and path only: userinfo and query strings may carry credentials.
            url = urlsplit(self.config.url)
            text = f"{text} (url: {url.scheme}://{url.hostname or ''}{f':{url.port}' if url.port else ''}{url.path})"
        return f"{text}; its stderr ended with: {said}" if said else text

    async def _list_tools(self, client: Client) -> tuple[ToolSpec, ...]:
        """tools/list, every page."""
        specs: list[ToolSpec] = []
        cursor: str | None = None
        seen: set[str] = set()
        limit = self.config.max_tools
        for _ in range(LIST_PAGES_MAX):
            page = await client.list_tools(cursor=cursor)
            specs.extend(tool_spec(self.name, tool) for tool in page.tools[: limit + 1 - len(specs)])
            cursor = page.next_cursor
            if len(specs) > limit:
                del specs[limit:]
                logger.warning(
                    "server %r lists more than %d tools; the first %d are used (raise its max_tools to take more)",
                    self.name,
                    limit,
                    limit,
                )
                break
            if cursor is None or cursor in seen:
                break
            seen.add(cursor)
        else:
            logger.warning("server %r: tools/list still paginating after %d pages; stopped", self.name, LIST_PAGES_MAX)
        by_name = {spec.name: spec for spec in specs}  # a tool listed twice keeps its last entry
        return tuple(by_name[name] for name in sorted(by_name))

    async def _refresher(self, live: _Live, refresh: _Signal) -> None:
        """Re-list on every change notification."""
        while True:
            await refresh.wait()
            try:
                with anyio.fail_after(self.config.timeout):
                    tools = await self._list_tools(live.client)
            except MCPError as exc:
                if live.expired.is_set() or _session_expired(exc) or exc.code == CONNECTION_CLOSED:
                    live.lost.set()
                    return
                logger.warning("server %r: refreshing the tool list failed: %s", self.name, describe_error(exc))
                continue
            except Exception as exc:  # boundary: a failed refresh keeps the previous catalog
                logger.warning("server %r: refreshing the tool list failed: %s", self.name, describe_error(exc))
                continue
            if tools != self._tools:
                logger.info("server %r: tool list changed (%d tools)", self.name, len(tools))
                self._set_tools(tools)

    async def _listener(self, client: Client, refresh: _Signal, lost: anyio.Event) -> None:
        """2026-07-28: hold a `subscriptions/listen` stream for tools/list_changed."""
        while not lost.is_set():
            try:
                async with client.listen(tools_list_changed=True) as subscription:
                    if not subscription.honored.tools_list_changed:
                        logger.debug("server %r does not announce tool-list changes", self.name)
                        return
                    refresh.set()  # anything that changed between our listing and the ack
                    async for _event in subscription:
                        refresh.set()
                logger.debug("server %r closed the change subscription; re-listening", self.name)
            except (ListenNotSupportedError, MCPError) as exc:
                logger.debug("server %r: no subscriptions/listen (%s)", self.name, describe_error(exc))
                return
            except SubscriptionLost:
                logger.info("server %r dropped the change subscription; re-listening", self.name)
            # No replay on a new stream: the refresh after its ack catches what changed meanwhile.
            await anyio.sleep(LISTEN_RETRY_S)

    # ---- calls ----------------------------------------------------------------------------------

    async def call_tool(
        self, tool: str, arguments: dict[str, JsonValue], options: CallOptions | None = None
    ) -> ToolResult:
        """Call `tool`, waiting for a (re)connection within the call's timeout.

        Raises:
            ServerUnavailableError: the server is down, failed, or did not answer in time.
        """
        options = options or {}
        timeout = options.get("timeout_s", self.config.timeout)
        report = options.get("progress")

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            if report is not None:
                await report(progress, total, message)

        unsendable = _unsendable(arguments)
        if unsendable is not None:
            return error_result(f"{self.name}.{tool}: the arguments cannot be sent as JSON ({unsendable})")
        meta = request_meta(options.get("meta"))
        phase = "answer"
        with anyio.move_on_after(timeout):
            for attempt in range(2):
                phase = "become ready"
                live = await self._wait_live()
                phase = "answer"
                try:
                    result = await live.client.call_tool(
                        tool,
                        dict(arguments),
                        progress_callback=on_progress if report is not None else None,
                        meta=meta,
                    )
                except MCPError as exc:
                    if live.expired.is_set() or _session_expired(exc):
                        # The server forgot our HTTP session (404): the request never ran. Reconnect, resend once.
                        logger.info("server %r: HTTP session expired; re-establishing it", self.name)
                        live.lost.set()
                        continue
                    if _event_too_large(exc):
                        # The SDK dropped an SSE event over `max_sse_event_size`: this call failed, the
                        # connection did not.
                        return error_result(
                            f"{self.name}.{tool}: server {self.name!r} sent a message over its limit of "
                            f"{self.config.max_message_bytes} bytes (max_message_bytes); it was dropped unread"
                        )
                    if exc.code == CONNECTION_CLOSED:
                        live.lost.set()
                        if attempt == 0 and self._safe_to_resend(tool):
                            # The child had died before or during the call; a read-only or idempotent
                            # tool may run again on the restarted server.
                            logger.info(
                                "server %r: connection closed under %r; resending on a restart", self.name, tool
                            )
                            continue
                        raise ServerUnavailableError(
                            f"server {self.name!r} closed the connection during the call to {tool!r}"
                            " (it crashed, exited or went away); reconnecting",
                            server=self.name,
                        ) from exc
                    if exc.code == REQUEST_TIMEOUT:
                        break
                    # A JSON-RPC error for this call (unknown tool, invalid arguments…) is the tool's failure.
                    return error_result(f"{self.name}.{tool}: {exc.message}")
                except RuntimeError as exc:
                    if live.lost.is_set() and "context manager" in str(exc):
                        continue  # the SDK client closed under us before the request went out
                    # The SDK's output-schema check: the server's structured result did not match its own schema.
                    return error_result(f"{self.name}.{tool}: {exc}")
                except Exception as exc:  # boundary: no SDK exception type may leave this package
                    raise UpstreamError(
                        f"server {self.name!r} answered {tool!r} with something we cannot use: {describe_error(exc)}",
                        server=self.name,
                    ) from exc
                return tool_result(result)
            else:
                raise ServerUnavailableError(
                    f"server {self.name!r} lost the connection twice in a row during {tool!r}", server=self.name
                )
        raise ServerUnavailableError(
            f"server {self.name!r} did not {phase} within {timeout:g} s (call timeout of {tool!r})", server=self.name
        )

    def _safe_to_resend(self, tool: str) -> bool:
        """Whether the server says running `tool` twice does no harm (read-only or idempotent)."""
        spec = self._by_name.get(tool)
        return spec is not None and bool(spec.annotations.read_only or spec.annotations.idempotent)

    async def _wait_live(self) -> _Live:
        """The live connection, waiting while the server is (re)starting."""
        while True:
            live = self._live
            if self._state == "ready" and live is not None and not live.lost.is_set():
                return live
            if self._state == "failed":
                raise ServerUnavailableError(f"server {self.name!r} is unavailable: {self._error}", server=self.name)
            if self._state == "disabled":
                raise ServerUnavailableError(f"server {self.name!r} is disabled in the configuration", server=self.name)
            # Starting, or ready on a connection that just ended (the supervisor is about to notice).
            await self._state_changed.wait()

    # ---- state ------------------------------------------------------------------------------------

    def _set_state(self, state: ServerState, *, error: str | None) -> None:
        self._state = state
        self._error = error
        changed, self._state_changed = self._state_changed, anyio.Event()
        changed.set()

    def _set_tools(self, tools: tuple[ToolSpec, ...]) -> None:
        self._set_catalog(tools, description=self._description)

    def _set_catalog(self, tools: tuple[ToolSpec, ...], *, description: str | None) -> None:
        if tools != self._tools or description != self._description:
            self._tools = tools
            self._by_name = {spec.name: spec for spec in tools}
            self._description = description
            self._on_catalog_changed()

    def _set_failed(self, error: str) -> None:
        self._error_reported = True
        self._protocol_version = None
        self._set_catalog((), description=None)
        self._set_state("failed", error=error)

    async def _emit(self, level: Literal["info", "warning", "error"], message: str) -> None:
        if self._on_event is None:
            return
        try:
            await self._on_event(FleetEvent(server=self.name, level=level, message=message))
        except Exception:  # boundary: a broken event consumer must not stop the supervisor
            logger.exception("the fleet event handler failed")
