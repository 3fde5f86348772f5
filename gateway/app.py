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
from gateway.catalog import Catalog, build_catalog
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
from gateway.upstream import Fleet, FleetEventHandler, connect_fleet

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
        self._view_lock = anyio.Lock()

    async def view(self) -> FleetView:
        """The catalog, stubs and prompt for the fleet's current version (recomputed on change)."""
        async with self._view_lock:
            version = self.fleet.version
            if self._view is None or self._view.version != version:
                catalog = build_catalog(await self.source.list_tools(), descriptions=self.fleet.descriptions())
                self._view = FleetView(
                    version=version,
                    catalog=catalog,
                    stubs=render_module(catalog),
                    namespaces=job_namespaces(catalog),
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
