"""`TracedToolSource`: one MCP client span and one duration sample per bridged tool call."""

from __future__ import annotations

import time
from collections.abc import Mapping

import anyio
from opentelemetry.propagate import inject
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.util.types import AttributeValue

from gateway.config import ServerConfig
from gateway.telemetry import _names as n
from gateway.telemetry._telemetry import Telemetry
from gateway.tools import BaseToolSource, CallOptions, JsonValue, ToolRef, ToolResult, ToolSourceWrapper

__all__ = ["TracedToolSource", "transports_for"]


def transports_for(servers: Mapping[str, ServerConfig]) -> dict[str, n.NetworkTransport]:
    """`network.transport` per configured server: stdio servers are `pipe`, remote ones `tcp`."""
    return {key: "pipe" if config.kind == "stdio" else "tcp" for key, config in servers.items()}


class TracedToolSource(ToolSourceWrapper):
    """Wraps a tool source; each `call_tool` becomes a CLIENT span `tools/call {tool}`.

    The span follows the MCP semantic conventions (`mcp.method.name`, `gen_ai.tool.name`,
    `gen_ai.operation.name = execute_tool`, `network.transport`, `error.type` when the tool or
    the server fails) and its W3C trace context is put in the request `_meta` (`traceparent`,
    `tracestate`), so an upstream server built on the MCP Python SDK parents its own span under
    it. The SDK's wire-level client span (`MCP send tools/call {tool}`), when the SDK's tracer
    is live, nests inside this one and re-injects its own context: the chain stays unbroken.

    Put it closest to the fleet (inside approval and filter wrappers) so the span measures the
    upstream call, not a user's approval dialog.
    """

    def __init__(
        self,
        inner: BaseToolSource,
        telemetry: Telemetry,
        *,
        transports: Mapping[str, n.NetworkTransport] | None = None,
    ) -> None:
        super().__init__(inner)
        self._telemetry = telemetry
        self._transports = dict(transports or {})

    async def call_tool(
        self, ref: ToolRef, arguments: Mapping[str, JsonValue], *, options: CallOptions | None = None
    ) -> ToolResult:
        """Call through the wrapped source inside a client span."""
        telemetry = self._telemetry
        if not telemetry.enabled:
            return await self._inner.call_tool(ref, arguments, options=options)

        attributes: dict[str, AttributeValue] = {
            n.MCP_METHOD_NAME: "tools/call",
            n.GEN_AI_OPERATION_NAME: "execute_tool",
            n.GEN_AI_TOOL_NAME: ref.name,
            n.PTC_UPSTREAM_SERVER: ref.server,
        }
        transport = self._transports.get(ref.server)
        if transport is not None:
            attributes[n.NETWORK_TRANSPORT] = transport
        if telemetry.capture.content:
            attributes[n.GEN_AI_TOOL_CALL_ARGUMENTS] = telemetry.capture.render(dict(arguments)) or ""

        started = time.perf_counter()
        error_type: str | None = None
        with telemetry.tracer.start_as_current_span(
            f"tools/call {ref.name}",
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            carrier: dict[str, str] = {}
            inject(carrier)
            traced: CallOptions = {**options} if options else {}
            traced["meta"] = {**traced.get("meta", {}), **carrier}
            try:
                result = await self._inner.call_tool(ref, arguments, options=traced)
            except anyio.get_cancelled_exc_class():
                error_type = "cancelled"
                span.set_status(StatusCode.ERROR, "cancelled")
                raise
            except Exception as e:  # recorded and re-raised unchanged
                error_type = type(e).__qualname__
                span.record_exception(e)
                span.set_status(StatusCode.ERROR, str(e))
                raise
            else:
                if result.is_error:
                    error_type = "tool_error"
                    span.set_status(StatusCode.ERROR)
                if telemetry.capture.content:
                    span.set_attribute(n.GEN_AI_TOOL_CALL_RESULT, telemetry.capture.render(_result_json(result)) or "")
            finally:
                if error_type is not None:
                    span.set_attribute(n.ERROR_TYPE, error_type)
                    attributes[n.ERROR_TYPE] = error_type
                attributes.pop(n.GEN_AI_TOOL_CALL_ARGUMENTS, None)
                telemetry.mcp_client_duration.record(time.perf_counter() - started, attributes)
        return result


def _result_json(result: ToolResult) -> JsonValue:
    """What capture records of a result: the structured value, else the text blocks."""
    if result.has_structured:
        return result.structured
    return [getattr(block, "text", f"<{block.type}>") for block in result.content]
