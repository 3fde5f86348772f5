"""One traced `execute_code` round trip, exported by `setup_telemetry()` from the `OTEL_*` environment.

Run as its own process (telemetry installs global providers, which a pytest process must not):

    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:6006 python tests/telemetry/otlp_scenario.py

An MCP client calls a stand-in for the gateway's one-tool server (an SDK server with the telemetry
middleware) in process; its `execute_code` acquires a sandbox through `TracedSandboxBackend` and
makes four parallel calls through `TracedToolSource` to two real upstream servers: the tiny SDK
server (which exports its own spans with the same `OTEL_*` settings) and mcp-server-time. Prints
`{"trace_id": ...}` on stdout.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters
from mcp.server.mcpserver import MCPServer
from opentelemetry import trace

from gateway.executor import ExecutionResult
from gateway.telemetry import (
    TelemetryServerMiddleware,
    TracedSandboxBackend,
    TracedToolSource,
    setup_telemetry,
    trace_execution,
)
from gateway.tools import JsonValue, ToolRef

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.telemetry._doubles import PoolBackend  # noqa: E402
from tests.telemetry._sources import open_clients  # noqa: E402

CODE = """\
a, b, now, gone = await asyncio.gather(
    inventory.lookup(sku="A-1"), inventory.lookup(sku="B-22"),
    time.get_current_time(timezone="UTC"), inventory.discontinued(sku="Z-9"),
    return_exceptions=True,
)
print(a["stock"] + b["stock"], now["datetime"], gone)
"""
CALLS: list[tuple[str, str, dict[str, JsonValue]]] = [
    ("inventory", "lookup", {"sku": "A-1"}),
    ("inventory", "lookup", {"sku": "B-22"}),
    ("time", "get_current_time", {"timezone": "UTC"}),
    ("inventory", "discontinued", {"sku": "Z-9"}),
]


async def main() -> None:
    telemetry = setup_telemetry(service_name="ptc-gateway")
    upstream_env = {k: v for k, v in os.environ.items() if k.startswith("OTEL_")} | {"PYTHONPATH": str(ROOT)}
    servers = {
        "inventory": StdioServerParameters(
            command=sys.executable, args=[str(ROOT / "tests/telemetry/sdk_server.py")], env=upstream_env
        ),
        "time": StdioServerParameters(command=str(ROOT / ".cache/servers/mcp-server-time/bin/mcp-server-time")),
    }
    try:
        async with open_clients(servers) as fleet:
            source = TracedToolSource(fleet, telemetry, transports={"inventory": "pipe", "time": "pipe"})
            backend = TracedSandboxBackend(PoolBackend(pool=1), telemetry)
            gateway = MCPServer(name="ptc-gateway")
            gateway._lowlevel_server.middleware.append(TelemetryServerMiddleware(telemetry, transport="pipe"))  # pyright: ignore[reportPrivateUsage]
            trace_ids: list[str] = []

            @gateway.tool()
            async def execute_code(code: str) -> str:
                """Run Python code against the fleet (stand-in for the gateway's one tool)."""
                trace_ids.append(f"{trace.get_current_span().get_span_context().trace_id:032x}")
                with trace_execution(telemetry, code=code) as execution:
                    sandbox = await backend.acquire()
                    async with anyio.create_task_group() as tg:
                        for server, name, arguments in CALLS:
                            tg.start_soon(source.call_tool, ToolRef(server=server, name=name), arguments)
                    await sandbox.aclose()
                    execution.finish(
                        ExecutionResult(stdout="ok\n", stderr="", error=None, tool_calls=len(CALLS), duration_s=0.1)
                    )
                return "ok"

            async with Client(gateway) as client:
                await client.call_tool("execute_code", {"code": CODE})
            print(json.dumps({"trace_id": trace_ids[0]}), flush=True)
    finally:
        telemetry.shutdown()


if __name__ == "__main__":
    anyio.run(main)
