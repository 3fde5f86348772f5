"""The executor's result records: what one execution produced and why it failed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from gateway.errors import GatewayError
from gateway.tools import ToolRef

__all__ = ["ExecutionFailure", "ExecutionHooks", "ExecutionResult", "FailureKind"]

FailureKind = Literal["code", "tool", "timeout", "crash", "limit", "protocol"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionFailure:
    """Why an execution did not finish cleanly."""

    kind: FailureKind
    """`code`: the model's code raised (traceback points at its lines). `tool`: it let a `ToolError`
    escape. Others: sandbox faults, with `exception` set."""
    type: str
    """Exception type name, e.g. `KeyError`, `ToolError`, `ExecutionTimeoutError`."""
    message: str
    traceback: str | None = None
    exception: GatewayError | None = None
    """For sandbox faults, the error-tree instance (ExecutionTimeoutError, LimitExceededError, …)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionResult:
    """What one execution produced."""

    stdout: str
    stderr: str
    error: ExecutionFailure | None
    tool_calls: int
    """Tool calls that completed (successfully or with a tool error)."""
    duration_s: float
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    tool_output_bytes: int = 0
    """Bytes of tool results injected into the sandbox: data the model never had to read."""

    @property
    def ok(self) -> bool:
        """True when the code ran to completion without raising."""
        return self.error is None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionHooks:
    """Callbacks for callers that report progress (the MCP server) or trace."""

    on_tool_call_done: Callable[[ToolRef, bool, int], Awaitable[None]] | None = None
    """(tool, ok, completed_count) after each bridged call finishes."""
