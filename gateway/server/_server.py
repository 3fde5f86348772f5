"""The one-tool MCP server on the SDK's low-level `Server`.

`GatewayServer` turns a `Gateway` into an MCP server that lists exactly one tool. Both protocol
eras are served by the SDK's dual-era loop; what differs per era is how the server reaches a client
on its own initiative (see `_clients`). The first `tools/list` (and the first execution) waits up to
`[serve] startup_grace_s` for servers still starting; after that `tools/list` answers at once from
whatever the fleet has discovered; when the catalog changes the description changes and clients are told.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import anyio
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import NotificationOptions, Server
from mcp.server.models import InitializationOptions
from mcp.server.subscriptions import ListenHandler
from mcp.shared.exceptions import MCPError

from gateway import __version__
from gateway.app import Gateway
from gateway.errors import GatewayError
from gateway.executor import ExecutionHooks
from gateway.server._approval import ElicitationApprover, can_elicit
from gateway.server._clients import Clients
from gateway.server._tool import build_tool, error_result, render_result
from gateway.telemetry import TelemetryServerMiddleware
from gateway.tools import ToolRef

__all__ = ["GatewayServer"]

logger = logging.getLogger(__name__)

SERVER_NAME: Final = "ptc-gateway"
INSTRUCTIONS: Final = (
    "One tool runs Python that calls every tool of the configured MCP servers as async functions, "
    "in a fresh sandbox per call. Read the tool's description for the functions and the rules."
)


class _OneToolServer(Server[Any]):
    """The low-level server, advertising `tools.listChanged` on every transport.

    The streamable-HTTP manager builds its own initialization options with the defaults, so the
    flag has to be the default here rather than something passed to `run`.
    """

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        return super().create_initialization_options(
            notification_options or NotificationOptions(tools_changed=True), experimental_capabilities, extensions
        )


class GatewayServer:
    """The gateway as an MCP server with one tool."""

    def __init__(self, gateway_: Gateway, *, clients: Clients | None = None) -> None:
        self.gateway = gateway_
        self.clients = clients or Clients()
        self.tool_name = gateway_.settings.serve.tool_name
        self.server: Server[Any] = _OneToolServer(
            SERVER_NAME,
            version=__version__,
            title="PTC gateway",
            instructions=INSTRUCTIONS,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            on_subscriptions_listen=ListenHandler(self.clients.bus),
        )
        # Registered directly: the constructor argument is deprecated (2026-07-28) and warns, but
        # handshake-era clients (and the conformance suite) still set a level for our upstream logs.
        self.server.add_request_handler("logging/setLevel", types.SetLevelRequestParams, self._set_level)
        self.server.middleware.append(TelemetryServerMiddleware(gateway_.telemetry))
        self.server.middleware.append(self.clients.middleware)
        self._grace_deadline = anyio.current_time() + gateway_.settings.serve.startup_grace_s
        self._grace_over = False

    async def startup_grace(self) -> None:
        """Wait for servers still starting, once: until each had its first connection attempt, or the grace ends.

        The first `tools/list` and the first `execute_code` call it, so a client that lists tools in
        its first second sees them rather than "still starting" (`initialize` never waits). Once the
        grace is over (or every server has answered), nothing waits again.
        """
        if self._grace_over:
            return
        with anyio.move_on_after(max(0.0, self._grace_deadline - anyio.current_time())):
            await self.gateway.fleet.wait_ready()
        self._grace_over = True

    async def watch_catalog(self) -> None:
        """Tell clients whenever the tool's description changes. Runs until cancelled.

        It changes with the catalog (fleet `version`) and with the servers' state (a server failing
        before it ever listed tools changes no catalog, but the description says it is unavailable);
        upstream events wake the watcher for the latter. Clients are told only on a real change.
        """
        fleet = self.gateway.fleet
        wake = anyio.Event()

        def poke() -> None:
            nonlocal wake
            wake.set()
            wake = anyio.Event()

        async def follow_versions() -> None:
            version = fleet.version
            while True:
                version = await fleet.wait_changed(version)
                poke()

        self.clients.on_upstream_event = poke
        async with anyio.create_task_group() as tg:
            tg.start_soon(follow_versions)
            # Take the event before rendering: a poke that lands while the description is being
            # rendered sets the event we wait on next, so no change is missed.
            pending = wake
            last = await self.description()
            while True:
                await pending.wait()
                pending = wake
                current = await self.description()
                if current != last:
                    last = current
                    logger.info("tool description changed (catalog version %d); notifying clients", fleet.version)
                    await self.clients.tools_changed()

    async def description(self) -> str:
        """The tool description: the rules and the stubs (or the compact index) for the current catalog."""
        toolbox = await self.gateway.toolbox()
        status = self.gateway.fleet.status()
        starting = [name for name, server in status.items() if server.state == "starting"]
        failed = [name for name, server in status.items() if server.state == "failed"]
        notes: list[str] = []
        if starting:
            # Never block the client on the slowest upstream: say who is missing; a list_changed follows.
            notes.append(f"Still starting (their tools will appear here when ready): {', '.join(starting)}.")
        if failed:
            # Names only: the failure detail goes to the user's log, not into the model's context.
            notes.append(f"Unavailable right now (retrying; their tools are not listed): {', '.join(failed)}.")
        return "\n\n".join([toolbox.prompt.text, *notes])

    async def _list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        await self.startup_grace()
        return types.ListToolsResult(tools=[build_tool(self.tool_name, await self.description())])

    async def _set_level(
        self, ctx: ServerRequestContext[Any, Any], params: types.SetLevelRequestParams
    ) -> types.EmptyResult:
        self.clients.set_level(ctx.session, params.level)
        return types.EmptyResult()

    async def _call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        if params.name != self.tool_name:
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name!r} (this server has {self.tool_name!r})")
        code = (params.arguments or {}).get("code")
        if not isinstance(code, str):
            return error_result("`code` must be a string of Python source.")

        async def on_tool_call_done(ref: ToolRef, ok: bool, completed: int) -> None:
            # A no-op unless the client sent a progress token with this request.
            await ctx.session.report_progress(completed, None, f"{ref} {'done' if ok else 'failed'}")

        # The executor stops its clocks while the user is asked (CallOptions.suspend): the approver's
        # own timeout ([approval] timeout_s) is the only bound on the wait.
        approval_timeout_s = self.gateway.settings.approval.timeout_s
        approver = ElicitationApprover(ctx, timeout_s=approval_timeout_s) if can_elicit(ctx) else None
        with self.clients.running(ctx):
            try:
                await self.startup_grace()
                result = await self.gateway.execute(
                    code,
                    ask=approver.ask if approver is not None else None,
                    hooks=ExecutionHooks(on_tool_call_done=on_tool_call_done),
                )
            except GatewayError as e:
                # No sandbox could be started (or similar): the model should hear it, not crash the server.
                logger.warning("execution failed before the code ran: %s", e)
                return error_result(f"The code did not run: {e}")
            except anyio.get_cancelled_exc_class():
                logger.info("execution cancelled by the client")
                raise
        return render_result(result)
