"""Run one block of model code in a fresh sandbox, bridging its tool calls to a tool source.

CONTRACT (implementation pending): the MCP server, the orchestrator and the CLI call only this.

    executor = Executor(backend=..., source=..., limits=...)
    result = await executor.execute(code, catalog=catalog, hooks=hooks)

`execute` never raises for what the code did: the code's own exception, a timeout, a crash, a
limit or a protocol violation all come back as `ExecutionResult.error`, with the stdout/stderr
captured up to that point and the count of tool calls that had completed. It raises only for
cancellation (the sandbox is killed first) and `SandboxUnavailableError` (no sandbox could be
started at all).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from gateway.errors import GatewayError
from gateway.tools import ToolRef

__all__ = ["ExecutionFailure", "ExecutionHooks", "ExecutionResult"]

FailureKind = Literal["code", "tool", "timeout", "crash", "limit", "protocol"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionFailure:
    """Why an execution did not finish cleanly."""

    kind: FailureKind
    """`code`: the model's code raised (traceback points at its lines). Others: sandbox faults."""
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

    @property
    def ok(self) -> bool:
        """True when the code ran to completion without raising."""
        return self.error is None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionHooks:
    """Callbacks for callers that report progress (the MCP server) or trace."""

    on_tool_call_done: Callable[[ToolRef, bool, int], Awaitable[None]] | None = None
    """(tool, ok, completed_count) after each bridged call finishes."""
