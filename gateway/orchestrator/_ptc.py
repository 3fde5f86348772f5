"""The PTC loop: stubs in the system prompt, one `execute_code` tool, a fresh sandbox per run of code.

Models with native tool use get `execute_code(code)` in toolConfig and read its output as the tool
result. Models without it write one fenced ```python block per reply; its output comes back as the
next user message. The loop ends when the model answers in plain text, at `max_turns`, or at the
run's wall-clock cap.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from gateway.config import ModelSettings
from gateway.executor import ExecutionResult
from gateway.models import (
    BaseModelClient,
    Message,
    ModelProfile,
    ToolDefinition,
    ToolUseBlock,
    configured_profile,
)
from gateway.orchestrator._accounting import Meter, RunResult
from gateway.orchestrator._loop import Hooks, answer_tool_uses, converse, user_text
from gateway.orchestrator._system_prompt import EXECUTE_CODE_TOOL, build_system_prompt, extract_code, format_execution

__all__ = ["EXECUTE_CODE_DEFINITION", "ExecuteFn", "run_ptc"]

ExecuteFn = Callable[[str], Awaitable[ExecutionResult]]
"""Runs one program in a fresh sandbox against the fleet (e.g. `Gateway.execute`)."""

EXECUTE_CODE_DEFINITION = ToolDefinition(
    name=EXECUTE_CODE_TOOL,
    description=(
        "Run a complete Python program in a fresh sandbox where the tools from the system prompt are async "
        "functions on namespace objects. Returns what the program printed, or its traceback."
    ),
    input_schema={
        "type": "object",
        "properties": {"code": {"type": "string", "description": "The whole Python program; top-level await works."}},
        "required": ["code"],
    },
)


def _fenced_followup(output: str) -> str:
    return (
        f"Output of your program:\n{output}\n\n"
        "Answer the question now if you can; otherwise reply with one corrected ```python block."
    )


async def run_ptc(
    question: str,
    *,
    model: BaseModelClient,
    stubs_prompt: str,
    execute: ExecuteFn,
    settings: ModelSettings,
    profile: ModelProfile | None = None,
    hooks: Hooks | None = None,
) -> RunResult:
    """Answer `question` by letting the model write code against the fleet described by `stubs_prompt`."""
    hooks = hooks or Hooks()
    profile = profile or configured_profile(model.model_id, settings)
    limit = settings.tool_result_max_bytes
    system = build_system_prompt(stubs_prompt, tool_use=profile.tool_use, output_limit_bytes=limit)
    tools = (EXECUTE_CODE_DEFINITION,) if profile.tool_use else ()
    meter = Meter(mode="ptc", model_id=model.model_id)

    async def run_code(code: str) -> tuple[str, bool]:
        if hooks.on_code is not None:
            await hooks.on_code(code)
        result = await execute(code)
        meter.executions += 1
        meter.tool_calls += result.tool_calls
        text, is_error = format_execution(result, limit_bytes=limit)
        meter.add_output(text)
        if hooks.on_result is not None:
            await hooks.on_result(text, is_error)
        return text, is_error

    async def take_turn(message: Message) -> Message | None:
        if not profile.tool_use:
            code = extract_code(message.text)
            if code is None:
                return None
            text, _ = await run_code(code)
            return user_text(_fenced_followup(text))
        return await answer_tool_uses(message, execute_code)

    async def execute_code(use: ToolUseBlock) -> tuple[str, bool]:
        code = use.input.get("code")
        if use.name != EXECUTE_CODE_TOOL or not isinstance(code, str):
            return f"unknown tool call {use.name!r}: the only tool is execute_code(code: str)", True
        return await run_code(code)

    return await converse(
        question,
        model=model,
        system=system,
        tools=tools,
        take_turn=take_turn,
        max_turns=settings.max_turns,
        settings=settings,
        profile=profile,
        meter=meter,
        hooks=hooks,
    )
