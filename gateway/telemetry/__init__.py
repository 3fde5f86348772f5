"""OpenTelemetry for the gateway: traces and metrics as wrappers around the seams.

One trace per `execute_code` call::

    tools/call execute_code        SERVER  (the MCP SDK's server middleware, from the client's traceparent)
    └── execute_code               INTERNAL  trace_execution()
        ├── sandbox.acquire        INTERNAL  TracedSandboxBackend (ptc.sandbox.start = warm | cold)
        ├── tools/call get_time    CLIENT    TracedToolSource      ┐ parallel calls are siblings
        │   └── MCP send tools/call get_time  (SDK wire span)      │
        │       └── tools/call get_time  SERVER  (upstream SDK server, via _meta.traceparent)
        └── tools/call search      CLIENT    TracedToolSource      ┘

Model requests are `chat {model}` spans (`TracedModelClient`), under one `invoke_agent ptc-gateway`
span per `ptc-gateway ask` (`trace_agent`). Configuration comes from the
standard `OTEL_*` environment (`setup_telemetry`); without it every wrapper is a pass-through.
"""

from gateway.telemetry._execution import ExecutionSpan, trace_execution
from gateway.telemetry._names import NetworkTransport
from gateway.telemetry._proxy import ProxyTelemetry, RequestSpan
from gateway.telemetry._server_metrics import TelemetryServerMiddleware
from gateway.telemetry._setup import capture_from_env, setup_telemetry
from gateway.telemetry._telemetry import CaptureSettings, Telemetry
from gateway.telemetry._traced_models import TracedModelClient, trace_agent
from gateway.telemetry._traced_sandbox import TracedSandboxBackend
from gateway.telemetry._traced_tools import TracedToolSource, transports_for

__all__ = [
    "CaptureSettings",
    "ExecutionSpan",
    "NetworkTransport",
    "ProxyTelemetry",
    "RequestSpan",
    "Telemetry",
    "TelemetryServerMiddleware",
    "TracedModelClient",
    "TracedSandboxBackend",
    "TracedToolSource",
    "capture_from_env",
    "setup_telemetry",
    "trace_agent",
    "trace_execution",
    "transports_for",
]
