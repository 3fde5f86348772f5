"""The composition root: settings in, a running gateway out.

`open_gateway(settings)` connects the fleet (without waiting for slow servers), starts the sandbox
backend (and its warm pool), and yields a `Gateway` that the CLI commands, the MCP server and the
orchestrator share. It is the one place where concrete backends are chosen.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import AsyncExitStack, asynccontextmanager

import anyio

from gateway.config import GatewaySettings
from gateway.executor import ExecutionHooks, ExecutionResult, Executor
from gateway.policy import ApprovalPolicy, ApprovalToolSource, AskFn, FilteredToolSource
from gateway.sandbox import BaseSandboxBackend, create_backend
from gateway.stubs import Toolbox, build_toolbox
from gateway.telemetry import (
    Telemetry,
    TracedSandboxBackend,
    TracedToolSource,
    setup_telemetry,
    trace_execution,
    transports_for,
)
from gateway.tools import BaseToolSource
from gateway.upstream import Fleet, FleetEventHandler, ServerState, connect_fleet

__all__ = ["Gateway", "fleet_source", "open_gateway"]


class Gateway:
    """A connected fleet, a sandbox backend and the derived views, shared by every entry point."""

    def __init__(
        self,
        *,
        settings: GatewaySettings,
        fleet: Fleet,
        source: BaseToolSource,
        backend: BaseSandboxBackend,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.telemetry = telemetry or Telemetry.disabled()
        self.settings = settings
        self.fleet = fleet
        self.source = source
        """The fleet behind the per-server tool filters; what the catalog is built from."""
        self.backend = backend
        self.policy = ApprovalPolicy.from_settings(settings)
        self._toolbox: Toolbox | None = None
        self._down: tuple[tuple[str, ServerState], ...] = ()
        self._toolbox_lock = anyio.Lock()

    async def toolbox(self) -> Toolbox:
        """The catalog, stubs and prompt for the fleet's current version (rebuilt when it changes).

        Servers that are still starting or failed keep a namespace in the code: calling any of its
        functions raises `ToolError` saying the server is unavailable (never a `NameError`).
        """
        async with self._toolbox_lock:
            version = self.fleet.version
            down = _servers_down(self.fleet)
            if self._toolbox is None or self._toolbox.version != version or self._down != down:
                self._down = down
                self._toolbox = build_toolbox(
                    await self.source.list_tools(),
                    settings=self.settings,
                    descriptions=self.fleet.descriptions(),
                    version=version,
                    unavailable=_unavailable_reasons(down),
                )
            return self._toolbox

    def approval_source(self, ask: AskFn | None) -> BaseToolSource:
        """The tool source every caller's tool calls go through: the fleet behind the approval policy.

        `ask` is how this caller asks its user (MCP elicitation in the server); without it, calls whose
        policy is `ask` are refused.
        """
        return ApprovalToolSource(self.source, policy=self.policy, ask=ask)

    async def execute(
        self, code: str, *, ask: AskFn | None = None, hooks: ExecutionHooks | None = None
    ) -> ExecutionResult:
        """Run one block of model code in a fresh sandbox against the current catalog.

        `ask` is how this caller asks its user to approve a call (MCP elicitation in the server);
        without it, calls whose policy is `ask` are refused inside the code.
        """
        toolbox = await self.toolbox()
        executor = Executor(backend=self.backend, source=self.approval_source(ask), limits=self.settings.limits)
        with trace_execution(self.telemetry, code=code) as execution:
            result = await executor.execute(code, toolbox=toolbox, hooks=hooks)
            execution.finish(result)
        return result


def _servers_down(fleet: Fleet) -> tuple[tuple[str, ServerState], ...]:
    """Configured servers that are not up, with their state (sorted by name)."""
    return tuple((name, status.state) for name, status in fleet.status().items() if status.state in _DOWN)


_DOWN: frozenset[ServerState] = frozenset({"starting", "failed"})


def _unavailable_reasons(down: tuple[tuple[str, ServerState], ...]) -> dict[str, str]:
    """What the code hears when it calls a server that is not up."""
    return {
        server: (
            f"the MCP server {server!r} is still starting; its tools are not available yet (try again shortly)"
            if state == "starting"
            else f"the MCP server {server!r} is unavailable right now (it failed to connect; retrying)"
        )
        for server, state in down
    }


@asynccontextmanager
async def open_gateway(
    settings: GatewaySettings,
    *,
    on_event: FleetEventHandler | None = None,
    backend: BaseSandboxBackend | None = None,
    telemetry: Telemetry | None = None,
) -> AsyncGenerator[Gateway]:
    """Connect the fleet and start the sandbox backend; close both on exit.

    Returns at once: servers keep connecting in the background (`gateway.fleet.wait_ready()` waits).
    Pass `backend` to use another sandbox backend than the configured one (tests).
    """
    owned = telemetry is None
    telemetry = setup_telemetry() if telemetry is None else telemetry
    servers = settings.resolved_servers()
    try:
        async with connect_fleet(servers, on_event=on_event) as fleet, AsyncExitStack() as stack:
            source = fleet_source(fleet, settings, telemetry)
            if backend is None:
                backend = await stack.enter_async_context(create_backend(settings.sandbox, settings.limits))
            yield Gateway(
                settings=settings,
                fleet=fleet,
                source=source,
                backend=TracedSandboxBackend(backend, telemetry),
                telemetry=telemetry,
            )
    finally:
        if owned:
            telemetry.shutdown()


def fleet_source(fleet: Fleet, settings: GatewaySettings, telemetry: Telemetry | None = None) -> BaseToolSource:
    """The fleet as every entry point sees it: traced, then narrowed by the per-server tool filters."""
    telemetry = telemetry or Telemetry.disabled()
    traced = TracedToolSource(fleet, telemetry, transports=transports_for(settings.resolved_servers()))
    return FilteredToolSource.from_settings(traced, settings)
