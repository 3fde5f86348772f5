"""The one tool: its MCP definition and how an `ExecutionResult` becomes a `CallToolResult`.

Pure functions over SDK types; the server module wires them to requests.
"""

from __future__ import annotations

from typing import Any, Final

import mcp_types as types

from gateway.executor import ExecutionResult

__all__ = ["INPUT_SCHEMA", "OUTPUT_SCHEMA", "build_tool", "render_result"]

INPUT_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "code": {
            "type": "string",
            "description": "Python source to run. Top-level `await` works; print() what you want to see.",
        }
    },
    "required": ["code"],
    "additionalProperties": False,
}

OUTPUT_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "stdout": {"type": "string", "description": "What the code printed (possibly truncated)."},
        "stderr": {"type": "string"},
        "error": {
            "description": "Why the code did not finish cleanly; null when it did.",
            "anyOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "properties": {
                        "kind": {"enum": ["code", "tool", "timeout", "crash", "limit", "protocol"]},
                        "type": {"type": "string"},
                        "message": {"type": "string"},
                        "traceback": {"type": ["string", "null"]},
                    },
                    "required": ["kind", "type", "message"],
                },
            ],
        },
        "tool_calls": {"type": "integer", "description": "Tool calls that completed inside the sandbox."},
        "duration_s": {"type": "number"},
        "stdout_truncated": {"type": "boolean"},
        "stderr_truncated": {"type": "boolean"},
    },
    "required": ["stdout", "stderr", "error", "tool_calls", "duration_s"],
}

ANNOTATIONS: Final = types.ToolAnnotations(
    title="Run Python against the MCP tool fleet",
    # Honest: the code can call any tool of any configured server, including ones that write.
    read_only_hint=False,
    destructive_hint=True,
    idempotent_hint=False,
    open_world_hint=True,
)


def build_tool(name: str, description: str) -> types.Tool:
    """The tool definition clients list."""
    return types.Tool(
        name=name,
        title=ANNOTATIONS.title,
        description=description,
        input_schema=INPUT_SCHEMA,
        output_schema=OUTPUT_SCHEMA,
        annotations=ANNOTATIONS,
    )


def structured(result: ExecutionResult) -> dict[str, Any]:
    """The `structuredContent` of a result (matches `OUTPUT_SCHEMA`)."""
    error = result.error
    return {
        "stdout": result.stdout,
        "stderr": result.stderr,
        "error": None
        if error is None
        else {"kind": error.kind, "type": error.type, "message": error.message, "traceback": error.traceback},
        "tool_calls": result.tool_calls,
        "duration_s": round(result.duration_s, 3),
        "stdout_truncated": result.stdout_truncated,
        "stderr_truncated": result.stderr_truncated,
    }


def render_text(result: ExecutionResult) -> str:
    """The same result as one text block, for clients that ignore structured content."""
    parts: list[str] = []
    if result.stdout:
        parts.append(result.stdout.rstrip("\n") + ("\n[stdout truncated]" if result.stdout_truncated else ""))
    if result.stderr:
        stderr = result.stderr.rstrip("\n") + ("\n[stderr truncated]" if result.stderr_truncated else "")
        parts.append(f"--- stderr ---\n{stderr}")
    if result.error is not None:
        error = result.error
        detail = error.traceback.rstrip("\n") if error.traceback else f"{error.type}: {error.message}"
        parts.append(f"--- error ({error.kind}) ---\n{detail}")
    calls = f"{result.tool_calls} tool call{'' if result.tool_calls == 1 else 's'}"
    parts.append(f"[{calls} in {result.duration_s:.2f} s]")
    return "\n".join(parts)


def render_result(result: ExecutionResult) -> types.CallToolResult:
    """Text and structured content; `isError` when the code did not finish cleanly."""
    return types.CallToolResult(
        content=[types.TextContent(text=render_text(result))],
        structured_content=structured(result),
        is_error=result.error is not None,
    )


def error_result(message: str) -> types.CallToolResult:
    """A tool-level error that happened before any code ran (bad arguments, no sandbox)."""
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)
