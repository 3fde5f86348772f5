"""The gateway's one error tree.

Every error the gateway raises on purpose derives from `GatewayError`::

    GatewayError
    ├── ConfigError                  the user's configuration is wrong (names file, server, key)
    ├── SandboxError                 the sandbox could not run the code to completion
    │   ├── SandboxUnavailableError  no engine / no image / the container would not start
    │   ├── ExecutionTimeoutError    wall-clock limit reached; the container was killed
    │   ├── SandboxCrashError        the runner died (OOM kill, fork bomb, signal) mid-execution
    │   ├── LimitExceededError       a configured cap (tool calls, output, frame size…) was hit
    │   └── ProtocolViolationError   the sandbox sent a malformed, forged or oversized frame
    ├── UpstreamError                an upstream MCP server failed us
    │   ├── ServerUnavailableError   could not start / connect / reconnect; call timed out
    │   └── UnknownToolError         the catalog has no such server or tool
    └── ModelError                   the model provider failed (throttled, invalid request, …)

`ToolError` is not a gateway failure: it is what a tool's own error (`isError: true`, an
approval denial, an upstream outage seen from inside the model's code) becomes *inside the
sandbox*. The host never raises it; it travels as a `result` frame with an error and the runner
raises `ToolError` in the model's code.

Execution errors carry an `ExecutionProgress` so that every message can say whether the code
ran and how far it got ("timed out after 30 s; 12 tool calls had completed").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

__all__ = [
    "ConfigError",
    "ExecutionProgress",
    "ExecutionTimeoutError",
    "GatewayError",
    "LimitExceededError",
    "ModelError",
    "ModelErrorKind",
    "ProtocolViolationError",
    "SandboxCrashError",
    "SandboxError",
    "SandboxUnavailableError",
    "ServerUnavailableError",
    "UnknownToolError",
    "UpstreamError",
]

ModelErrorKind: TypeAlias = Literal["throttled", "unavailable", "invalid", "denied", "not_found", "other"]
"""Why a model call failed: throttling, the service or model not ready, a request the provider
rejected, missing access, an unknown model, anything else (network, parsing, credentials)."""


class GatewayError(Exception):
    """Root of every error the gateway raises on purpose."""


class ConfigError(GatewayError):
    """The user's configuration is wrong.

    The message always names where: the file, the server entry and the key, so the user can fix
    it without a traceback.
    """

    def __init__(self, message: str, *, file: str | None = None, server: str | None = None, key: str | None = None):
        self.file = file
        self.server = server
        self.key = key
        parts = (file, f"server {server!r}" if server else None, f"key {key!r}" if key else None)
        where = [part for part in parts if part]
        super().__init__(f"{': '.join(where)}: {message}" if where else message)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionProgress:
    """How far an execution got before it failed."""

    started: bool
    """Whether the user code had started running."""
    elapsed_s: float
    tool_calls_completed: int
    tool_calls_in_flight: int = 0

    def describe(self) -> str:
        """Say it in words for an error message."""
        if not self.started:
            return "the code did not start"
        text = f"{self.tool_calls_completed} tool call{'' if self.tool_calls_completed == 1 else 's'} had completed"
        if self.tool_calls_in_flight:
            text += f", {self.tool_calls_in_flight} were in flight"
        return text


class SandboxError(GatewayError):
    """The sandbox could not run the code to completion."""

    def __init__(self, message: str, *, progress: ExecutionProgress | None = None):
        self.progress = progress
        super().__init__(f"{message}; {progress.describe()}" if progress else message)


class SandboxUnavailableError(SandboxError):
    """No sandbox could be started (engine down, image missing, container failed to start)."""


class ExecutionTimeoutError(SandboxError):
    """The wall-clock limit of one execution was reached; the sandbox was killed."""


class SandboxCrashError(SandboxError):
    """The runner inside the sandbox died before reporting an outcome (OOM kill, pids limit, signal)."""


class LimitExceededError(SandboxError):
    """A configured cap was hit (tool calls, concurrent calls, frame size, result size, output)."""


class ProtocolViolationError(SandboxError):
    """The sandbox sent a frame the host refuses: malformed, forged nonce, oversized, unknown tool."""


class UpstreamError(GatewayError):
    """An upstream MCP server failed us."""

    def __init__(self, message: str, *, server: str | None = None):
        self.server = server
        super().__init__(message)


class ServerUnavailableError(UpstreamError):
    """The server could not be started, reached or re-established, or a call to it timed out."""


class UnknownToolError(UpstreamError):
    """The catalog has no such server or tool."""


class ModelError(GatewayError):
    """The model provider failed: throttled, invalid request, access denied, unreachable."""

    def __init__(self, message: str, *, retryable: bool = False, kind: ModelErrorKind = "other"):
        self.retryable = retryable
        self.kind: ModelErrorKind = kind
        """What went wrong, for callers that map it to a status (the proxy)."""
        super().__init__(message)
