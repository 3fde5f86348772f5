"""One traced `execute_code` round trip, exported by `setup_telemetry()` from the `OTEL_*` environment.

Run as its own process (telemetry installs global providers, which a pytest process must not):

    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:6006 python tests/telemetry/otlp_scenario.py [--docker]

An MCP client calls a stand-in for the gateway's one-tool server (an SDK server with the telemetry
middleware) in process. Its `execute_code` runs the code with the real pipeline, wrapped as
`gateway/app.py` is to wrap it: the fleet (`connect_fleet`) behind `TracedToolSource`, the
executor inside `trace_execution`, the sandbox backend (local process, or Docker with a warm pool
with `--docker`) behind `TracedSandboxBackend`. The upstream servers are the tiny SDK server
(which exports its own spans with the same `OTEL_*` settings) and mcp-server-time. Prints
`{"trace_id": ..., "stdout": ...}` on stdout.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio
from mcp import Client
from mcp.server.mcpserver import MCPServer
from opentelemetry import trace

from gateway.config import ExecutionLimits, GatewaySettings, SandboxSettings, StdioServerConfig
from gateway.executor import Executor
from gateway.sandbox import BaseSandboxBackend, LocalProcessBackend, create_backend
from gateway.stubs import build_toolbox
from gateway.telemetry import (
    TelemetryServerMiddleware,
    TracedSandboxBackend,
    TracedToolSource,
    setup_telemetry,
    trace_execution,
    transports_for,
)
from gateway.upstream import connect_fleet

ROOT = Path(__file__).resolve().parents[2]

CODE = """\
import asyncio
a, b, now = await asyncio.gather(
    inventory.lookup(sku="A-1"), inventory.lookup(sku="B-22"), time_tools.get_current_time(timezone="UTC"),
)
try:
    await inventory.discontinued(sku="Z-9")
except ToolError as e:
    print("refused:", e)
print("stock:", a["stock"] + b["stock"], "at", now["datetime"])
"""


async def main(docker: bool) -> None:
    telemetry = setup_telemetry(service_name="ptc-gateway")
    upstream_env = {k: v for k, v in os.environ.items() if k.startswith("OTEL_")} | {"PYTHONPATH": str(ROOT)}
    servers = {
        "inventory": StdioServerConfig(
            command=sys.executable, args=[str(ROOT / "tests/telemetry/sdk_server.py")], env=upstream_env
        ),
        "time": StdioServerConfig(command=str(ROOT / ".cache/servers/mcp-server-time/bin/mcp-server-time")),
    }
    limits = ExecutionLimits()
    inner: BaseSandboxBackend = (
        create_backend(SandboxSettings(backend="docker", pool_size=1), limits) if docker else LocalProcessBackend()
    )
    try:
        async with (
            connect_fleet(servers) as fleet,
            TracedSandboxBackend(inner, telemetry) as backend,
        ):
            await fleet.wait_ready(30)
            source = TracedToolSource(fleet, telemetry, transports=transports_for(servers))
            toolbox = build_toolbox(await source.list_tools(), settings=GatewaySettings())
            executor = Executor(backend=backend, source=source, limits=limits)
            if docker:
                await anyio.sleep(3)  # let the warm pool fill, so the trace shows a warm start

            gateway = MCPServer(name="ptc-gateway")
            gateway._lowlevel_server.middleware.append(TelemetryServerMiddleware(telemetry))  # pyright: ignore[reportPrivateUsage]
            runs: list[dict[str, str]] = []

            @gateway.tool()
            async def execute_code(code: str) -> str:
                """Run Python code against the fleet (stand-in for the gateway's one tool)."""
                with trace_execution(telemetry, code=code) as execution:
                    result = await executor.execute(code, toolbox=toolbox)
                    execution.finish(result)
                trace_id = f"{trace.get_current_span().get_span_context().trace_id:032x}"
                runs.append({"trace_id": trace_id, "stdout": result.stdout, "error": str(result.error or "")})
                return result.stdout

            async with Client(gateway) as client:
                await client.call_tool("execute_code", {"code": CODE})
            print(json.dumps(runs[0]), flush=True)
    finally:
        telemetry.shutdown()


if __name__ == "__main__":
    anyio.run(main, "--docker" in sys.argv[1:])
