"""Each wrapper on its own: attributes, errors, capture, the disabled fast path."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from gateway.errors import SandboxUnavailableError, ServerUnavailableError
from gateway.executor import ExecutionFailure, ExecutionResult
from gateway.models import Message, ModelRequest, ModelResponse, TextBlock, Usage
from gateway.telemetry import (
    CaptureSettings,
    Telemetry,
    TelemetryServerMiddleware,
    TracedModelClient,
    TracedSandboxBackend,
    TracedToolSource,
    trace_agent,
    trace_execution,
)
from gateway.testing import FunctionModelClient, FunctionToolSource, RecordedCall
from gateway.tools import CallOptions, TextContent, ToolRef, ToolResult, ToolSpec
from tests.telemetry._doubles import PoolBackend
from tests.telemetry.conftest import Recorded, recording_telemetry
from tests.telemetry.test_trace_tree import points

REF = ToolRef(server="crm", name="find_customer")


def recording_source(result: ToolResult | Exception) -> FunctionToolSource:
    """One tool that returns `result` (or raises it); the source records each call's options."""

    async def answer(call: RecordedCall) -> ToolResult:
        if isinstance(result, Exception):
            raise result
        return result

    return FunctionToolSource([ToolSpec(server=REF.server, name=REF.name)], handler=answer)


def options_of(source: FunctionToolSource) -> list[CallOptions | None]:
    return [call.options for call in source.calls]


def four_names(request: ModelRequest) -> ModelResponse:
    return ModelResponse(
        message=Message(role="assistant", content=(TextBlock(text="four names"),)),
        stop_reason="end_turn",
        usage=Usage(input_tokens=1200, output_tokens=35, cache_read_input_tokens=1000),
    )


def scripted_model() -> FunctionModelClient:
    return FunctionModelClient(four_names, model_id="anthropic.claude-test-v1:0")


def only(recorded: Recorded) -> ReadableSpan:
    (span,) = recorded.spans.get_finished_spans()
    return span


OK = ToolResult(content=(TextContent(text="Ada"),), structured={"name": "Ada"}, has_structured=True)


@pytest.mark.anyio
async def test_disabled_telemetry_passes_calls_through_untouched() -> None:
    inner = recording_source(OK)
    source = TracedToolSource(inner, Telemetry.disabled())
    options: CallOptions = {"timeout_s": 3.0}
    assert await source.call_tool(REF, {"q": "x"}, options=options) is OK
    assert options_of(inner) == [options], "no traceparent when nothing records"


@pytest.mark.anyio
async def test_traceparent_joins_existing_meta_and_names_the_client_span(recorded: Recorded) -> None:
    inner = recording_source(OK)
    source = TracedToolSource(inner, recorded.telemetry, transports={"crm": "tcp"})
    await source.call_tool(REF, {"q": "x"}, options={"timeout_s": 3.0, "meta": {"tenant": "acme"}})
    span = only(recorded)
    context = span.get_span_context()
    assert context is not None
    (sent,) = options_of(inner)
    assert sent is not None and sent.get("timeout_s") == 3.0
    meta = dict(sent.get("meta", {}))
    version, trace_id, parent_id, flags = str(meta.pop("traceparent")).split("-")
    assert meta == {"tenant": "acme"}
    assert (version, trace_id, parent_id) == ("00", f"{context.trace_id:032x}", f"{context.span_id:016x}")
    assert int(flags, 16) & 1, "sampled"
    assert span.attributes is not None and span.attributes["network.transport"] == "tcp"


@pytest.mark.anyio
async def test_a_failing_server_marks_the_span_and_the_error_propagates(recorded: Recorded) -> None:
    source = TracedToolSource(recording_source(ServerUnavailableError("crm is down", server="crm")), recorded.telemetry)
    with pytest.raises(ServerUnavailableError):
        await source.call_tool(REF, {})
    span = only(recorded)
    assert span.attributes is not None and span.attributes["error.type"] == "ServerUnavailableError"
    assert span.status.status_code is StatusCode.ERROR
    assert [event.name for event in span.events] == ["exception"]
    (point,) = points(recorded.metrics.get_metrics_data(), "mcp.client.operation.duration")
    assert point.attributes["error.type"] == "ServerUnavailableError"


@pytest.mark.anyio
async def test_content_capture_is_opt_in_and_capped() -> None:
    rec, _, _ = recording_telemetry(CaptureSettings(content=True, max_chars=12))
    try:
        source = TracedToolSource(recording_source(OK), rec.telemetry)
        await source.call_tool(REF, {"query": "a long search phrase"})
        attributes = only(rec).attributes
        assert attributes is not None
        assert attributes["gen_ai.tool.call.arguments"] == '{"query": "a…[truncated 21 chars]'
        assert attributes["gen_ai.tool.call.result"] == '{"name": "Ada"}'[:12] + "…[truncated 3 chars]"
    finally:
        rec.telemetry.shutdown()


@pytest.mark.anyio
async def test_cold_start_and_pool_size_are_reported(recorded: Recorded) -> None:
    inner = PoolBackend(pool=0)
    async with TracedSandboxBackend(inner, recorded.telemetry) as backend:
        await backend.acquire()
        inner.pool = 3  # the gauge reads the backend's own `pool_ready`
        (gauge,) = points(recorded.metrics.get_metrics_data(), "ptc.sandbox.pool.size")
        assert (gauge.value, dict(gauge.attributes)) == (3, {"ptc.sandbox.backend": "test-pool"})
    span = only(recorded)
    assert span.attributes is not None and span.attributes["ptc.sandbox.start"] == "cold"
    (start,) = points(recorded.metrics.get_metrics_data(), "ptc.sandbox.start.duration")
    assert start.attributes["ptc.sandbox.start"] == "cold" and start.sum == pytest.approx(0.4)


def test_failed_execution_outcome_is_the_failure_kind(recorded: Recorded) -> None:
    failure = ExecutionFailure(kind="timeout", type="ExecutionTimeoutError", message="timed out after 30 s")
    with trace_execution(recorded.telemetry, code="await x.y()") as execution:
        execution.finish(ExecutionResult(stdout="", stderr="", error=failure, tool_calls=2, duration_s=30.0))
    attributes = only(recorded).attributes
    assert attributes is not None
    assert (attributes["ptc.execution.outcome"], attributes["error.type"]) == ("timeout", "ExecutionTimeoutError")
    (count,) = points(recorded.metrics.get_metrics_data(), "ptc.executions")
    assert dict(count.attributes) == {"ptc.execution.outcome": "timeout"}


def test_no_sandbox_is_outcome_unavailable_and_reraised(recorded: Recorded) -> None:
    with (
        pytest.raises(SandboxUnavailableError),
        trace_execution(recorded.telemetry, code="pass"),
    ):
        raise SandboxUnavailableError("no Docker engine")
    span = only(recorded)
    assert span.attributes is not None and span.attributes["ptc.execution.outcome"] == "unavailable"
    assert span.status.status_code is StatusCode.ERROR


@pytest.mark.anyio
async def test_model_requests_are_genai_chat_spans_with_usage(recorded: Recorded) -> None:
    model = TracedModelClient(scripted_model(), recorded.telemetry)
    request = ModelRequest(system="s", messages=(Message(role="user", content=(TextBlock(text="q"),)),))
    await model.request(request)
    span = only(recorded)
    assert span.name == "chat anthropic.claude-test-v1:0"
    a = dict(span.attributes or {})
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "aws.bedrock"
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (1200, 35)
    assert a["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert "gen_ai.output.messages" not in a
    usage = points(recorded.metrics.get_metrics_data(), "gen_ai.client.token.usage")
    assert {p.attributes["gen_ai.token.type"]: p.sum for p in usage} == {"input": 1200, "output": 35}


@pytest.mark.anyio
async def test_server_middleware_records_server_operation_duration(recorded: Recorded) -> None:
    server = MCPServer(name="gateway")

    @server.tool()
    def execute_code(code: str) -> str:
        """Run code."""
        if code == "boom":
            raise ToolError("failed")
        return "ok"

    server._lowlevel_server.middleware.append(  # pyright: ignore[reportPrivateUsage]
        TelemetryServerMiddleware(recorded.telemetry)
    )
    with anyio.fail_after(30):
        async with Client(server) as client:
            await client.call_tool("execute_code", {"code": "print(1)"})
            await client.call_tool("execute_code", {"code": "boom"})
    durations = points(recorded.metrics.get_metrics_data(), "mcp.server.operation.duration")
    calls: dict[Any, int] = {
        p.attributes.get("error.type"): p.count for p in durations if p.attributes["mcp.method.name"] == "tools/call"
    }
    assert calls == {None: 1, "tool_error": 1}
    assert all(p.attributes["network.transport"] == "pipe" for p in durations)


@pytest.mark.anyio
async def test_agent_span_parents_the_chat_spans_and_records_a_failure(recorded: Recorded) -> None:
    model = TracedModelClient(scripted_model(), recorded.telemetry)
    request = ModelRequest(system="s", messages=(Message(role="user", content=(TextBlock(text="q"),)),))
    with (
        pytest.raises(SandboxUnavailableError),
        trace_agent(recorded.telemetry, model_id=model.model_id, mode="ptc"),
    ):
        await model.request(request)
        raise SandboxUnavailableError("no Docker engine")
    chat, agent = recorded.spans.get_finished_spans()
    assert agent.name == "invoke_agent ptc-gateway" and agent.parent is None
    assert chat.parent is not None and agent.context is not None and chat.parent.span_id == agent.context.span_id
    a = dict(agent.attributes or {})
    assert (a["gen_ai.operation.name"], a["gen_ai.request.model"], a["ptc.mode"]) == (
        "invoke_agent",
        "anthropic.claude-test-v1:0",
        "ptc",
    )
    assert (a["error.type"], agent.status.status_code) == ("SandboxUnavailableError", StatusCode.ERROR)


def test_agent_span_is_free_when_disabled() -> None:
    with trace_agent(Telemetry.disabled(), model_id="m", mode="classic") as span:
        assert span is None
