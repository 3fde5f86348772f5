"""Run one block of model code in a fresh sandbox, bridging its tool calls to a tool source.

The MCP server, the orchestrator and the CLI call only this::

    executor = Executor(backend=backend, source=source, limits=limits)
    result = await executor.execute(code, toolbox=build_toolbox(tools, settings=settings))

Modules: `_executor` (the execution: job, frames, bounded tool calls), `_frames` (what the host
accepts from the sandbox), `_result_frames` (tool results as `result` frames: the return
convention), `_state` (one run's mutable state), `_records` (the result records).
"""

from gateway.executor._executor import Executor
from gateway.executor._records import ExecutionFailure, ExecutionHooks, ExecutionResult, FailureKind

__all__ = ["ExecutionFailure", "ExecutionHooks", "ExecutionResult", "Executor", "FailureKind"]
