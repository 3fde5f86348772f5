"""The real entry points, traced: `ptc-gateway serve` and `ptc-gateway ask` as subprocesses.

Each process (the gateway and the Python SDK upstream server it spawns) exports over OTLP/HTTP,
configured only by the standard `OTEL_*` variables, to an in-test receiver. The MCP client here
sends its own `traceparent` in the request `_meta`, so the whole chain must land in ONE trace:

    client span (this test) → tools/call execute_code (gateway, SERVER) → execute_code
        → sandbox.acquire, tools/call {tool} ×4 (CLIENT, siblings) → MCP send … → tools/call {tool} (upstream)
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncGenerator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal, cast

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp_types import RequestParamsMeta
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from tests._support import require
from tests.bedrock.endpoint import Endpoint
from tests.bedrock.fixtures import bedrock
from tests.bedrock.scripted import ONE_CALL, ptc_model
from tests.server.conftest import GATEWAY, ListChanged, http_gateway, ready_description
from tests.telemetry._otlp import ReceivedSpan, Receiver, run_receiver
from tests.telemetry.conftest import ROOT, SDK_SERVER, TIME_SERVER

__all__ = ["bedrock"]

EXAMPLES = ROOT / "examples"
Transport = Literal["stdio", "http"]
CODE = """\
import asyncio
a, b, now = await asyncio.gather(
    inventory.lookup(sku="A-1"), inventory.lookup(sku="B-22"), time_tools.get_current_time(timezone="UTC"),
)
try:
    await inventory.discontinued(sku="Z-9")
except ToolError as e:
    print("refused:", e)
print("stock:", a["stock"] + b["stock"], now["timezone"])
"""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with run_receiver() as running:
        yield running


def base_env(tmp_path: Path) -> dict[str, str]:
    """This process's environment without any stray gateway or OpenTelemetry configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PTC_", "OTEL_"))}
    config = tmp_path / "gateway.toml"
    config.write_text("", encoding="utf-8")
    return env | {"PTC_CONFIG": str(config)}


def children(spans: list[ReceivedSpan], parent: ReceivedSpan) -> list[ReceivedSpan]:
    return [s for s in spans if s.parent_id == parent.span_id]


@asynccontextmanager
async def connect(
    transport: Transport, args: list[str], env: dict[str, str], changes: ListChanged
) -> AsyncGenerator[Client]:
    """An SDK client on `ptc-gateway serve`: spawned over stdio, or started with `--transport http`."""
    if transport == "stdio":
        params = StdioServerParameters(command=args[0], args=args[1:], env=env)
        async with Client(params, mode="legacy", message_handler=changes) as client:
            yield client
        return
    async with http_gateway(args, env) as (url, _), Client(url, mode="legacy", message_handler=changes) as client:
        yield client


@pytest.mark.anyio
@pytest.mark.parametrize(("transport", "network"), [("stdio", "pipe"), ("http", "tcp")])
async def test_serve_joins_the_clients_trace_down_to_the_upstream_server(
    transport: Transport, network: str, receiver: Receiver, tmp_path: Path
) -> None:
    require(TIME_SERVER.exists(), "mcp-server-time", "scripts/install-test-servers")
    servers_file = tmp_path / "servers.json"
    inventory_env = {"PYTHONPATH": str(ROOT)} | receiver.env("inventory-sdk-server")
    servers = {
        "inventory": {"command": sys.executable, "args": [str(SDK_SERVER)], "env": inventory_env},
        "time": {"command": str(TIME_SERVER)},
    }
    servers_file.write_text(json.dumps({"mcpServers": servers}), encoding="utf-8")
    args = [GATEWAY, "serve", "--servers", str(servers_file), "--sandbox", "local-process"]
    env = base_env(tmp_path) | receiver.env("ptc-gateway")

    # The client's own span: a private provider (never the global one), only to mint a traceparent.
    client_tracer = TracerProvider().get_tracer("test-client")
    client_span = client_tracer.start_span("invoke_agent test-client")
    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier, context=set_span_in_context(client_span))
    client_context = client_span.get_span_context()
    trace_id, client_id = f"{client_context.trace_id:032x}", f"{client_context.span_id:016x}"

    changes = ListChanged()
    with anyio.fail_after(90):
        async with connect(transport, args, env, changes) as client:
            description = await ready_description(client, changes)
            assert "async def lookup" in description and "async def get_current_time" in description
            result = await client.call_tool("execute_code", {"code": CODE}, meta=cast(RequestParamsMeta, dict(carrier)))
            assert not result.is_error, result.content
            structured: dict[str, Any] = result.structured_content or {}
            assert structured["error"] is None and "stock: 49 UTC" in structured["stdout"]
            # server + execution + acquire + 4 client spans + 4 SDK wire spans + 3 upstream SDK server spans
            spans = await receiver.wait_for_spans(14, trace_id=trace_id)
    client_span.end()

    (server,) = [s for s in spans if s.parent_id == client_id]
    assert (server.service, server.name, server.kind) == ("ptc-gateway", "tools/call execute_code", "SERVER")
    assert server.attributes["mcp.method.name"] == "tools/call"
    assert server.attributes["gen_ai.tool.name"] == "execute_code"
    assert server.attributes["network.transport"] == network

    (execution,) = children(spans, server)
    assert execution.name == "execute_code"
    assert execution.attributes["ptc.execution.outcome"] == "ok"
    assert execution.attributes["ptc.execution.tool_calls"] == 4
    assert "ptc.code" not in execution.attributes, "content capture is off by default"

    below = children(spans, execution)
    (acquire,) = [s for s in below if s.name == "sandbox.acquire"]
    assert acquire.attributes["ptc.sandbox.backend"] == "local-process"
    assert acquire.attributes["ptc.sandbox.start"] == "cold"
    calls = [s for s in below if s.name.startswith("tools/call ")]
    assert sorted(s.name for s in calls) == [
        "tools/call discontinued",
        "tools/call get_current_time",
        "tools/call lookup",
        "tools/call lookup",
    ]
    for call in calls:
        tool = call.name.removeprefix("tools/call ")
        assert call.kind == "CLIENT"
        assert call.attributes["mcp.method.name"] == "tools/call"
        assert call.attributes["gen_ai.tool.name"] == tool
        assert call.attributes["gen_ai.operation.name"] == "execute_tool"
        assert call.attributes["network.transport"] == "pipe"
        assert "gen_ai.tool.call.arguments" not in call.attributes
        if tool == "discontinued":
            assert (call.attributes["error.type"], call.status) == ("tool_error", "ERROR")
        else:
            assert "error.type" not in call.attributes
    parallel = [c for c in calls if c.name != "tools/call discontinued"]
    assert max(c.start_ns for c in parallel) < min(c.end_ns for c in parallel), "the gathered calls overlap"

    # The Python SDK upstream server's own spans, exported by that process, under our client spans
    # (through the SDK's wire-level `MCP send` span in the gateway).
    by_id = {s.span_id: s for s in spans}
    upstream = [s for s in spans if s.service == "inventory-sdk-server" and s.name.startswith("tools/call ")]
    assert sorted(s.name for s in upstream) == ["tools/call discontinued", "tools/call lookup", "tools/call lookup"]
    for remote in upstream:
        assert remote.kind == "SERVER" and remote.parent_id is not None
        wire = by_id[remote.parent_id]
        assert wire.service == "ptc-gateway" and wire.name == f"MCP send {remote.name}"
        assert wire.parent_id is not None and by_id[wire.parent_id] in calls
        assert by_id[wire.parent_id].name == remote.name

    # Metrics from the same gateway process.
    def latest(metric: str) -> list[Any]:
        return receiver.latest(metric, "ptc-gateway")

    await receiver.wait_for_metric("ptc.execution.tool_calls", "ptc-gateway")
    served = [p for p in latest("mcp.server.operation.duration") if p.attributes["mcp.method.name"] == "tools/call"]
    assert sum(p.count for p in served) == 1 and served[0].attributes["network.transport"] == network
    client_calls = latest("mcp.client.operation.duration")
    assert sum(p.count for p in client_calls) == 4
    assert {p.attributes.get("error.type") for p in client_calls} == {None, "tool_error"}
    (start,) = latest("ptc.sandbox.start.duration")
    assert start.attributes == {"ptc.sandbox.backend": "local-process", "ptc.sandbox.start": "cold"}
    (executions,) = latest("ptc.executions")
    assert (executions.value, executions.attributes) == (1, {"ptc.execution.outcome": "ok"})
    (tool_calls,) = latest("ptc.execution.tool_calls")
    assert (tool_calls.count, tool_calls.sum) == (1, 4)


@pytest.mark.anyio
async def test_ask_records_chat_spans_with_token_usage(bedrock: Any, receiver: Receiver, tmp_path: Path) -> None:
    endpoint: Endpoint = bedrock(ptc_model(ONE_CALL))
    servers_file = tmp_path / "servers.json"
    entry = {"command": sys.executable, "args": [str(EXAMPLES / "expenses_server.py")]}
    servers_file.write_text(json.dumps({"mcpServers": {"expenses": entry}}), encoding="utf-8")
    model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    env = base_env(tmp_path) | endpoint.env() | receiver.env("ptc-gateway")
    with anyio.fail_after(90):
        done = await anyio.run_process(
            [GATEWAY, "ask", ONE_CALL.question, "--servers", str(servers_file), "--sandbox", "local-process"]
            + ["--json", "--model", model],
            env=env,
            check=False,
        )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    assert json.loads(done.stdout)["stop"] == "answered"
    assert len(endpoint.turns) == 2

    # The process flushed on exit: everything it exported is here.
    spans = receiver.received_spans()
    chats = [s for s in spans if s.name == f"chat {model}"]
    assert len(chats) == 2
    for chat in chats:
        a = chat.attributes
        assert chat.kind == "CLIENT"
        assert (a["gen_ai.operation.name"], a["gen_ai.provider.name"]) == ("chat", "aws.bedrock")
        assert a["gen_ai.request.model"] == model
        assert a["gen_ai.usage.input_tokens"] > 0 and a["gen_ai.usage.output_tokens"] > 0
        assert len(a["gen_ai.response.finish_reasons"]) == 1
        assert "gen_ai.output.messages" not in a
    (execution,) = [s for s in spans if s.name == "execute_code"]
    assert execution.attributes["ptc.execution.outcome"] == "ok"
    # One question, one trace: the model turns and the program they ran hang under the agent span.
    (agent,) = [s for s in spans if s.name == "invoke_agent ptc-gateway"]
    assert agent.parent_id is None
    assert (agent.attributes["gen_ai.operation.name"], agent.attributes["ptc.mode"]) == ("invoke_agent", "ptc")
    assert {s.parent_id for s in [*chats, execution]} == {agent.span_id}
    usage = receiver.latest("gen_ai.client.token.usage", "ptc-gateway")
    totals = {p.attributes["gen_ai.token.type"]: p.sum for p in usage}
    assert totals == {
        "input": sum(c.attributes["gen_ai.usage.input_tokens"] for c in chats),
        "output": sum(c.attributes["gen_ai.usage.output_tokens"] for c in chats),
    }
