"""One trace per proxy request: a SERVER span under the client's traceparent, model and execution spans
beneath it; the proxy's metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic
import anyio
import pytest
from opentelemetry.sdk.metrics.export import MetricsData
from opentelemetry.trace import SpanKind

from tests.bedrock.endpoint import Endpoint, ScriptedModel
from tests.proxy.conftest import KEY, OpenProxy
from tests.proxy.test_ptc import code_then_answer
from tests.telemetry.conftest import Recorded, recorded

Serve = Callable[[ScriptedModel], Endpoint]
pytestmark = pytest.mark.anyio
__all__ = ["recorded"]

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


def _metric_names(data: MetricsData | None) -> set[str]:
    assert data is not None
    return {m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}


async def test_a_ptc_request_is_one_trace_under_the_client_traceparent(
    bedrock: Serve, proxy: OpenProxy, recorded: Recorded
) -> None:
    bedrock(code_then_answer("print(6 * 7)"))
    tools: Any = [{"type": "code_execution_20260120", "name": "code_execution"}]
    headers = {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"}
    async with proxy(fleet=False, telemetry=recorded.telemetry) as running:
        async with anthropic.AsyncAnthropic(base_url=running.url, api_key=KEY, max_retries=0) as client:
            with anyio.fail_after(60):
                message = await client.messages.create(
                    model="claude-opus-4-6",
                    max_tokens=100,
                    tools=tools,
                    messages=[{"role": "user", "content": "6*7?"}],
                    extra_headers=headers,
                )
                async with client.messages.stream(
                    model="claude-opus-4-6", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
                ) as stream:
                    await stream.get_final_message()
    assert message.content[-1].type == "text" and message.content[-1].text == "Answer: 42"
    spans = recorded.spans.get_finished_spans()
    [server, streamed] = [s for s in spans if s.name == "POST /v1/messages"]
    assert server.kind == SpanKind.SERVER
    assert server.context is not None and server.parent is not None
    assert f"{server.context.trace_id:032x}" == TRACE_ID and f"{server.parent.span_id:016x}" == PARENT_ID
    assert server.attributes is not None and server.attributes["http.response.status_code"] == 200
    in_trace = [s for s in spans if s.context is not None and s.context.trace_id == server.context.trace_id]
    chats = [s for s in in_trace if s.name == "chat us.anthropic.claude-opus-4-6-v1"]
    assert len(chats) == 2
    assert all(s.parent is not None and s.parent.span_id == server.context.span_id for s in chats)
    assert all(s.attributes is not None and s.attributes["gen_ai.usage.input_tokens"] > 0 for s in chats)  # type: ignore[operator]
    [execution] = [s for s in in_trace if s.name == "execute_code"]
    assert execution.parent is not None and execution.parent.span_id == server.context.span_id
    # The streamed request is its own trace, with its model call as a child.
    assert streamed.context is not None and streamed.context.trace_id != server.context.trace_id
    assert [s.name for s in spans if s.parent is not None and s.parent.span_id == streamed.context.span_id] == [
        "chat us.anthropic.claude-opus-4-6-v1"
    ]
    names = _metric_names(recorded.metrics.get_metrics_data())
    assert {
        "ptc.proxy.request.duration",
        "ptc.proxy.time_to_first_token",
        "ptc.proxy.paused_executions",
        "gen_ai.client.token.usage",
        "gen_ai.client.operation.duration",
    } <= names
