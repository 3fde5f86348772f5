"""The composition root: settings in, a running gateway out.

`open_gateway(settings)` connects the fleet (without waiting for slow servers), starts the sandbox
backend (and its warm pool), and yields a `Gateway` that the CLI commands, the MCP server and the
orchestrator share. It is the one place where concrete backends are chosen.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import anyio

from bridge.protocol import NamespaceSpec
from gateway.catalog import Catalog, build_catalog, missing_namespaces
from gateway.config import GatewaySettings
from gateway.executor import ExecutionHooks, ExecutionResult, Executor
from gateway.policy import ApprovalPolicy, ApprovalToolSource, AskFn, FilteredToolSource
from gateway.sandbox import BaseSandboxBackend, create_backend
from gateway.stubs import RenderedPrompt, job_namespaces, render_module, render_prompt
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

__all__ = ["FleetView", "Gateway", "open_gateway"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetView:
    """Everything derived from one version of the catalog: names, stub module, prompt text."""

    version: int
    catalog: Catalog
    stubs: str
    namespaces: list[NamespaceSpec]
    prompt: RenderedPrompt


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
        self._view: FleetView | None = None
        self._down: tuple[tuple[str, ServerState], ...] = ()
        self._view_lock = anyio.Lock()

    async def view(self) -> FleetView:
        """The catalog, stubs and prompt for the fleet's current version (recomputed on change).

        Servers that are still starting or failed keep a namespace in the code: calling any of its
        functions raises `ToolError` saying the server is unavailable (never a `NameError`).
        """
        async with self._view_lock:
            version = self.fleet.version
            down = _servers_down(self.fleet)
            if self._view is None or self._view.version != version or self._down != down:
                catalog = build_catalog(await self.source.list_tools(), descriptions=self.fleet.descriptions())
                self._down = down
                self._view = FleetView(
                    version=version,
                    catalog=catalog,
                    stubs=render_module(catalog),
                    namespaces=job_namespaces(catalog) + _unavailable_namespaces(catalog, down),
                    prompt=render_prompt(
                        catalog,
                        settings=self.settings.stubs,
                        limits=self.settings.limits,
                        tool_name=self.settings.serve.tool_name,
                    ),
                )
            return self._view

    async def execute(
        self, code: str, *, ask: AskFn | None = None, hooks: ExecutionHooks | None = None
    ) -> ExecutionResult:
        """Run one block of model code in a fresh sandbox against the current catalog.

        `ask` is how this caller asks its user to approve a call (MCP elicitation in the server);
        without it, calls whose policy is `ask` are refused inside the code.
        """
        view = await self.view()
        source = ApprovalToolSource(self.source, policy=self.policy, ask=ask)
        executor = Executor(backend=self.backend, source=source, limits=self.settings.limits)
        with trace_execution(self.telemetry, code=code) as execution:
            result = await executor.execute(
                code,
                catalog=view.catalog,
                stubs=view.stubs,
                namespaces=view.namespaces,
                helpers=view.prompt.compact,
                hooks=hooks,
            )
            execution.finish(result)
        return result


def _servers_down(fleet: Fleet) -> tuple[tuple[str, ServerState], ...]:
    """Configured servers that are not up, with their state (sorted by name)."""
    return tuple((name, status.state) for name, status in fleet.status().items() if status.state in _DOWN)


_DOWN: frozenset[ServerState] = frozenset({"starting", "failed"})


def _unavailable_namespaces(catalog: Catalog, down: tuple[tuple[str, ServerState], ...]) -> list[NamespaceSpec]:
    states = dict(down)
    specs: list[NamespaceSpec] = []
    for server, python_name in missing_namespaces(catalog, states).items():
        if states[server] == "starting":
            reason = f"the MCP server {server!r} is still starting; its tools are not available yet (try again shortly)"
        else:
            reason = (
                f"the MCP server {server!r} is unavailable right now (it failed to connect; the gateway keeps retrying)"
            )
        specs.append(
            NamespaceSpec(
                name=python_name, doc=f"Tools of the MCP server {server!r} (unavailable).", tools=[], unavailable=reason
            )
        )
    return specs


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
            traced = TracedToolSource(fleet, telemetry, transports=transports_for(servers))
            source = FilteredToolSource.from_settings(traced, settings)
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
