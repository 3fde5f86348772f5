"""The PTC system prompt, fenced-code extraction and how an execution is reported to the model.

The system prompt is a pure function of (tool-use mode, output cap, rendered stubs): no dates, no
question, no run ids, so it is byte-stable for a given fleet and the provider's prompt cache hits.
"""

from __future__ import annotations

import re

from gateway.executor import ExecutionResult

__all__ = ["EXECUTE_CODE_TOOL", "build_system_prompt", "cap_text", "extract_code", "format_execution"]

EXECUTE_CODE_TOOL = "execute_code"

_TOOL_USE_RULES = """\
You answer the user's question with the tools of an MCP fleet, which you reach only through Python:
call the `execute_code` tool with a complete program (argument `code`). Prefer one program that does
all the work. If a program fails, read the traceback, fix the code and run it again. What you get
back is cut after {limit} bytes. When you have what you need, answer the question in plain text
without calling a tool.
"""

_FENCED_RULES = """\
You answer the user's question with the tools of an MCP fleet, which you reach only through Python.
There is no `execute_code` tool in this conversation: instead, write a complete program in ONE
fenced ```python block and stop. It runs exactly like one `execute_code` call and its output comes
back in the next message (cut after {limit} bytes). Prefer one program that does all the work. If
a program fails, read the traceback and reply with one corrected block. When you have what you
need, answer the question in plain text, with no code block.
"""

_FENCE = re.compile(r"```[ \t]*(?P<lang>[A-Za-z0-9_+-]*)[ \t]*\n(?P<code>.*?)```", re.DOTALL)


def build_system_prompt(stubs_prompt: str, *, tool_use: bool, output_limit_bytes: int) -> str:
    """How to reach the code channel, then the fleet's rendered prompt (`RenderedPrompt.text`)."""
    rules = (_TOOL_USE_RULES if tool_use else _FENCED_RULES).format(limit=output_limit_bytes)
    return f"{rules}\n{stubs_prompt.strip()}\n"


def extract_code(text: str) -> str | None:
    """The first ```python block of a reply (an unlabelled block when there is no labelled one)."""
    unlabelled: str | None = None
    for match in _FENCE.finditer(text):
        lang = match["lang"].lower()
        if lang in ("python", "py", "python3"):
            return match["code"]
        if not lang and unlabelled is None:
            unlabelled = match["code"]
    return unlabelled


def cap_text(text: str, limit_bytes: int) -> str:
    """Cut `text` to `limit_bytes` of UTF-8, saying how much was dropped."""
    data = text.encode()
    if len(data) <= limit_bytes:
        return text
    kept = data[:limit_bytes].decode(errors="ignore")
    return f"{kept}\n[… {len(data) - limit_bytes:,} more bytes cut: print less]"


def format_execution(result: ExecutionResult, *, limit_bytes: int) -> tuple[str, bool]:
    """What the model reads after one execution, and whether it is an error."""
    parts: list[str] = []
    if result.stdout:
        parts.append(
            result.stdout.rstrip("\n") + ("\n[stdout truncated by the sandbox]" if result.stdout_truncated else "")
        )
    if result.stderr:
        parts.append("[stderr]\n" + result.stderr.rstrip("\n"))
    if result.error is not None:
        error = result.error
        detail = f"{error.type}: {error.message}"
        if error.traceback:
            tb = error.traceback.rstrip("\n")
            detail = tb if error.message in tb else f"{tb}\n{detail}"
        label = "the program raised" if error.kind in ("code", "tool") else f"sandbox {error.kind} error"
        parts.append(f"[error: {label}]\n{detail}")
    if not parts:
        parts.append("(the program printed nothing: print() the values you need)")
    return cap_text("\n".join(parts), limit_bytes), result.error is not None
