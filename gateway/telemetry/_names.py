"""Span, attribute and metric names: the OpenTelemetry MCP and GenAI conventions, plus our own `ptc.*`.

Kept in one place so the wrappers, the docs and the tests agree on every string.
"""

from __future__ import annotations

from typing import Final, Literal, TypeAlias

NetworkTransport: TypeAlias = Literal["pipe", "tcp", "quic", "unix"]
"""`network.transport` per the MCP conventions: stdio servers are `pipe`, HTTP servers `tcp`."""

# Attributes (MCP and GenAI semantic conventions).
MCP_METHOD_NAME: Final = "mcp.method.name"
MCP_PROTOCOL_VERSION: Final = "mcp.protocol.version"
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"
NETWORK_TRANSPORT: Final = "network.transport"
ERROR_TYPE: Final = "error.type"

# Our own attributes.
PTC_UPSTREAM_SERVER: Final = "ptc.upstream.server"
"""The configured key of the upstream server a tool call went to."""
PTC_SANDBOX_BACKEND: Final = "ptc.sandbox.backend"
PTC_SANDBOX_ID: Final = "ptc.sandbox.id"
PTC_SANDBOX_START: Final = "ptc.sandbox.start"
"""`warm` (from the pool) or `cold` (started for this execution)."""
PTC_EXECUTION_OUTCOME: Final = "ptc.execution.outcome"
PTC_EXECUTION_TOOL_CALLS: Final = "ptc.execution.tool_calls"
PTC_CODE: Final = "ptc.code"
"""The model's code: captured only when content capture is on."""
PTC_CODE_SIZE: Final = "ptc.code.size"

# Span names (those that do not embed a target).
SPAN_EXECUTE_CODE: Final = "execute_code"
SPAN_SANDBOX_ACQUIRE: Final = "sandbox.acquire"

# Metrics.
METRIC_MCP_CLIENT_DURATION: Final = "mcp.client.operation.duration"
METRIC_MCP_SERVER_DURATION: Final = "mcp.server.operation.duration"
METRIC_SANDBOX_START_DURATION: Final = "ptc.sandbox.start.duration"
METRIC_SANDBOX_POOL_SIZE: Final = "ptc.sandbox.pool.size"
METRIC_EXECUTIONS: Final = "ptc.executions"
METRIC_EXECUTION_DURATION: Final = "ptc.execution.duration"
METRIC_EXECUTION_TOOL_CALLS: Final = "ptc.execution.tool_calls"
METRIC_GEN_AI_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
METRIC_GEN_AI_DURATION: Final = "gen_ai.client.operation.duration"

DURATION_BUCKETS_S: Final = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
"""The bucket boundaries the MCP and GenAI conventions recommend for operation durations."""
TOKEN_BUCKETS: Final = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
TOOL_CALL_BUCKETS: Final = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
