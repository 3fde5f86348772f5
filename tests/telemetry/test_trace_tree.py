"""The span tree of one execution with parallel calls to two real upstream servers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import StdioServerParameters
from opentelemetry import trace
from opentelemetry.sdk.metrics.export import HistogramDataPoint, MetricsData, NumberDataPoint
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from gateway.executor import ExecutionResult
from gateway.telemetry import TracedSandboxBackend, TracedToolSource, trace_execution
from gateway.testing import FunctionToolSource
from gateway.tools import JsonValue, ToolRef, ToolResult
from tests._support import require
from tests.telemetry._doubles import PoolBackend
from tests.telemetry._sources import open_clients
from tests.telemetry.conftest import TIME_SERVER, Recorded, sdk_server_params

CODE = """\
a, b, now, gone = await asyncio.gather(
    inventory.lookup(sku="A-1"), inventory.lookup(sku="B-22"),
    time.get_current_time(timezone="UTC"), inventory.discontinued(sku="Z-9"),
    return_exceptions=True,
)
print(a, b, now)
"""
CALLS: list[tuple[str, str, dict[str, JsonValue]]] = [
    ("inventory", "lookup", {"sku": "A-1"}),
    ("inventory", "lookup", {"sku": "B-22"}),
    ("time", "get_current_time", {"timezone": "UTC"}),
    ("inventory", "discontinued", {"sku": "Z-9"}),
]


async def run_execution(recorded: Recorded, fleet: FunctionToolSource, backend: PoolBackend) -> list[ToolResult]:
    """What the executor does, reduced to what tracing sees: acquire, then concurrent bridged calls."""
    telemetry = recorded.telemetry
    source = TracedToolSource(fleet, telemetry, transports={"inventory": "pipe", "time": "pipe"})
    traced_backend = TracedSandboxBackend(backend, telemetry, pool_size=lambda: backend.pool)
    results: dict[int, ToolResult] = {}

    async def call(index: int, server: str, name: str, arguments: dict[str, JsonValue]) -> None:
        results[index] = await source.call_tool(ToolRef(server=server, name=name), arguments)

    with trace_execution(telemetry, code=CODE) as execution:
        sandbox = await traced_backend.acquire()
        async with anyio.create_task_group() as tg:
            for index, (server, name, arguments) in enumerate(CALLS):
                tg.start_soon(call, index, server, name, arguments)
        await sandbox.aclose()
        execution.finish(ExecutionResult(stdout="", stderr="", error=None, tool_calls=len(CALLS), duration_s=0.1))
    await traced_backend.aclose()
    return [results[i] for i in range(len(CALLS))]


def by_name(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


def span_id(span: ReadableSpan) -> int:
    context = span.get_span_context()
    assert context is not None
    return context.span_id


def trace_id(span: ReadableSpan) -> int:
    context = span.get_span_context()
    assert context is not None
    return context.trace_id


def points(metrics: MetricsData | None, name: str) -> list[Any]:
    assert metrics is not None
    found: list[Any] = []
    for resource in metrics.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    found += list(metric.data.data_points)
    return found


def attrs(point: HistogramDataPoint | NumberDataPoint) -> Mapping[str, Any]:
    return dict(point.attributes or {})


@pytest.mark.anyio
async def test_parallel_calls_to_two_servers_form_one_trace(recorded: Recorded, tmp_path: Path) -> None:
    require(TIME_SERVER.exists(), "mcp-server-time", "scripts/install-test-servers")
    # The SDK's own client span would sit between ours and the upstream's if a global provider were
    # installed; these tests keep theirs private so the parent links below are exact.
    assert not hasattr(trace.get_tracer_provider(), "add_span_processor")
    upstream_file = tmp_path / "upstream-spans.jsonl"
    servers = {"inventory": sdk_server_params(upstream_file), "time": StdioServerParameters(command=str(TIME_SERVER))}
    with anyio.fail_after(60):
        async with open_clients(servers) as fleet:
            results = await run_execution(recorded, fleet, PoolBackend(pool=1))
    assert [r.is_error for r in results] == [False, False, False, True]

    spans = recorded.spans.get_finished_spans()
    assert len({trace_id(span) for span in spans}) == 1, "one execution, one trace"
    (execution,) = by_name(spans, "execute_code")
    assert execution.parent is None
    assert execution.attributes is not None
    assert execution.attributes["ptc.execution.outcome"] == "ok"
    assert execution.attributes["ptc.execution.tool_calls"] == 4
    assert execution.attributes["ptc.code.size"] == len(CODE)
    assert "ptc.code" not in execution.attributes, "content capture is off by default"

    (acquire,) = by_name(spans, "sandbox.acquire")
    assert acquire.parent is not None and acquire.parent.span_id == span_id(execution)
    assert dict(acquire.attributes or {}) == {
        "ptc.sandbox.backend": "test-pool",
        "ptc.sandbox.id": "sb-1",
        "ptc.sandbox.start": "warm",
    }

    calls = [span for span in spans if span.name.startswith("tools/call ")]
    assert sorted(span.name for span in calls) == [
        "tools/call discontinued",
        "tools/call get_current_time",
        "tools/call lookup",
        "tools/call lookup",
    ]
    for span in calls:
        assert span.kind is SpanKind.CLIENT
        assert span.parent is not None and span.parent.span_id == span_id(execution), "siblings under the execution"
        a = dict(span.attributes or {})
        tool = span.name.removeprefix("tools/call ")
        assert a["mcp.method.name"] == "tools/call"
        assert a["gen_ai.tool.name"] == tool
        assert a["gen_ai.operation.name"] == "execute_tool"
        assert a["network.transport"] == "pipe"
        assert a["ptc.upstream.server"] == ("time" if tool == "get_current_time" else "inventory")
        assert "gen_ai.tool.call.arguments" not in a and "gen_ai.tool.call.result" not in a
        if tool == "discontinued":
            assert a["error.type"] == "tool_error"
            assert span.status.status_code is StatusCode.ERROR
        else:
            assert "error.type" not in a
            assert span.status.status_code is StatusCode.UNSET
    # Parallel: every call started before any of them ended.
    assert max(s.start_time or 0 for s in calls) < min(s.end_time or 0 for s in calls)

    # The Python SDK server's own spans joined the trace, each under the client span of its call.
    upstream = [json.loads(line) for line in upstream_file.read_text(encoding="utf-8").splitlines()]
    upstream_calls = [s for s in upstream if s["name"].startswith("tools/call ")]
    assert sorted(s["name"] for s in upstream_calls) == [
        "tools/call discontinued",
        "tools/call lookup",
        "tools/call lookup",
    ]
    ours = {f"{span_id(s):016x}": s.name for s in calls}
    for remote in upstream_calls:
        assert remote["kind"] == "SERVER"
        assert remote["trace_id"] == f"{trace_id(execution):032x}"
        assert ours[remote["parent_id"]] == remote["name"], "parented by the matching client span"
    (remote_error,) = [s for s in upstream_calls if s["name"] == "tools/call discontinued"]
    assert remote_error["attributes"]["error.type"] == "tool_error"

    # Metrics from the same run.
    metrics = recorded.metrics.get_metrics_data()
    client = points(metrics, "mcp.client.operation.duration")
    assert sum(p.count for p in client) == 4
    assert {attrs(p).get("error.type") for p in client} == {None, "tool_error"}
    assert all(attrs(p)["network.transport"] == "pipe" for p in client)
    (start,) = points(metrics, "ptc.sandbox.start.duration")
    assert attrs(start) == {"ptc.sandbox.backend": "test-pool", "ptc.sandbox.start": "warm"}
    (executions,) = points(metrics, "ptc.executions")
    assert (executions.value, attrs(executions)) == (1, {"ptc.execution.outcome": "ok"})
    (tool_calls,) = points(metrics, "ptc.execution.tool_calls")
    assert (tool_calls.sum, tool_calls.count) == (4, 1)
    assert points(metrics, "ptc.sandbox.pool.size") == [], "the gauge stops with its backend"
