"""`TelemetryServerMiddleware`: `mcp.server.operation.duration` for the gateway's own MCP server.

The span is not ours to make: the SDK's low-level `Server` ships `OpenTelemetryMiddleware`
(first in `Server.middleware`), which opens the SERVER span `tools/call execute_code` under the
client's `traceparent`, through the global tracer provider that `setup_telemetry` installs.
This middleware goes after it, so it runs inside that span: it adds `network.transport` to the
span and records the duration histogram the SDK does not.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult
from opentelemetry.trace import get_current_span
from opentelemetry.util.types import AttributeValue
from pydantic import ValidationError

from gateway.telemetry import _names as n
from gateway.telemetry._telemetry import Telemetry

__all__ = ["TelemetryServerMiddleware"]


class TelemetryServerMiddleware:
    """SDK server middleware recording `mcp.server.operation.duration` per request.

    Wire it once where the server is built, after the SDK's own middleware:
    `server.middleware.append(TelemetryServerMiddleware(telemetry))`. `network.transport` is
    `tcp` for requests that came over HTTP (the transport attached the HTTP request) and `pipe`
    for stdio, unless `transport` fixes it.
    """

    def __init__(self, telemetry: Telemetry, *, transport: n.NetworkTransport | None = None) -> None:
        self._telemetry = telemetry
        self._transport: n.NetworkTransport | None = transport

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        """Time the rest of the chain; notifications (no request id) pass straight through."""
        if not self._telemetry.enabled or ctx.request_id is None:
            return await call_next(ctx)
        transport = self._transport or ("pipe" if ctx.request is None else "tcp")
        attributes: dict[str, AttributeValue] = {
            n.MCP_METHOD_NAME: ctx.method,
            n.NETWORK_TRANSPORT: transport,
            n.MCP_PROTOCOL_VERSION: ctx.protocol_version,
        }
        target = ctx.params.get("name") if ctx.params else None
        if ctx.method == "tools/call" and isinstance(target, str):
            attributes[n.GEN_AI_TOOL_NAME] = target
            attributes[n.GEN_AI_OPERATION_NAME] = "execute_tool"
        span = get_current_span()
        if span.is_recording():
            span.set_attribute(n.NETWORK_TRANSPORT, transport)
        started = time.perf_counter()
        try:
            result = await call_next(ctx)
        except MCPError as e:
            attributes[n.ERROR_TYPE] = str(e.error.code)
            raise
        except ValidationError:
            attributes[n.ERROR_TYPE] = "invalid_params"
            raise
        except anyio.get_cancelled_exc_class():
            attributes[n.ERROR_TYPE] = "cancelled"
            raise
        except Exception as e:  # recorded and re-raised unchanged
            attributes[n.ERROR_TYPE] = type(e).__qualname__
            raise
        else:
            match result:
                case CallToolResult(is_error=True) | {"isError": True}:
                    attributes[n.ERROR_TYPE] = "tool_error"
                case _:
                    pass
            return result
        finally:
            self._telemetry.mcp_server_duration.record(time.perf_counter() - started, attributes)
