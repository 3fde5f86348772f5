"""The PTC loop: stubs in the system prompt, one `execute_code` tool, a fresh sandbox per run of code.

Models with native tool use get `execute_code(code)` in toolConfig and read its output as the tool
result. Models without it write one fenced ```python block per reply; its output comes back as the
next user message. The loop ends when the model answers in plain text, at `max_turns`, or at the
run's wall-clock cap.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

from gateway.config import ModelSettings
from gateway.executor import ExecutionResult
from gateway.models import (
    BaseModelClient,
    Message,
    ModelProfile,
    ModelRequest,
    ModelResponse,
    TextBlock,
    TextSink,
    ToolDefinition,
    ToolResultBlock,
    configured_profile,
)
from gateway.orchestrator._accounting import Meter, RunResult, Stop
from gateway.orchestrator._prompt import EXECUTE_CODE_TOOL, build_system_prompt, extract_code, format_execution

__all__ = ["EXECUTE_CODE_DEFINITION", "ExecuteFn", "Hooks", "run_ptc"]

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


@dataclass(frozen=True, slots=True, kw_only=True)
class Hooks:
    """Optional callbacks for a caller that shows progress (the CLI)."""

    on_text: TextSink | None = None
    """Streams the model's text as it arrives (ConverseStream)."""
    on_code: Callable[[str], Awaitable[None]] | None = None
    """A program is about to run (PTC)."""
    on_tool_call: Callable[[str], Awaitable[None]] | None = None
    """A tool is about to be called (classic), by its Bedrock name."""
    on_result: Callable[[str, bool], Awaitable[None]] | None = None
    """(text the model will read, is_error) after each execution or tool call."""


def user_text(text: str) -> Message:
    """A user message with one text block."""
    return Message(role="user", content=(TextBlock(text=text),))


async def send(model: BaseModelClient, request: ModelRequest, hooks: Hooks) -> ModelResponse:
    """One model turn, streamed when someone listens."""
    if hooks.on_text is not None:
        return await model.request_stream(request, hooks.on_text)
    return await model.request(request)


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
    messages: list[Message] = [user_text(question)]
    answer = ""

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

    stop: Stop = "max_turns"
    with anyio.move_on_after(settings.run_timeout_s) as scope:
        for _ in range(settings.max_turns):
            request = ModelRequest(
                system=system,
                messages=tuple(messages),
                tools=tools,
                max_tokens=settings.max_tokens,
                temperature=settings.temperature,
                cache=profile.cache_points,
            )
            response = await send(model, request, hooks)
            meter.add_response(response)
            messages.append(response.message)
            answer = response.message.text
            if profile.tool_use:
                uses = response.message.tool_uses
                if not uses:
                    stop = "answered"
                    break
                results: list[ToolResultBlock] = []
                for use in uses:
                    code = use.input.get("code")
                    if use.name != EXECUTE_CODE_TOOL or not isinstance(code, str):
                        text = f"unknown tool call {use.name!r}: the only tool is execute_code(code: str)"
                        results.append(ToolResultBlock(tool_use_id=use.id, text=text, is_error=True))
                        continue
                    text, is_error = await run_code(code)
                    results.append(ToolResultBlock(tool_use_id=use.id, text=text, is_error=is_error))
                messages.append(Message(role="user", content=tuple(results)))
            else:
                code = extract_code(answer)
                if code is None:
                    stop = "answered"
                    break
                text, _ = await run_code(code)
                messages.append(user_text(_fenced_followup(text)))
    if scope.cancelled_caught:
        stop = "timeout"
    return RunResult(answer=answer.strip(), stop=stop, stats=meter.freeze())
