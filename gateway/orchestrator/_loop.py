"""The conversation loop PTC and classic mode share: ask the model, act on its turn, repeat.

Each mode supplies only what differs: the system prompt and tools it offers, and `take_turn`,
which acts on the model's message (runs its code, calls its tools) and returns the user message
that continues the conversation, or None when the model has answered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import anyio

from gateway.config import ModelSettings
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
    ToolUseBlock,
)
from gateway.orchestrator._accounting import Meter, RunResult, Stop

__all__ = ["Hooks", "TurnFn", "answer_tool_uses", "converse", "send", "user_text"]

TurnFn = Callable[[Message], Awaitable[Message | None]]
"""Act on the model's message; the next user message, or None when the model has answered."""


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


async def answer_tool_uses(
    message: Message, answer: Callable[[ToolUseBlock], Awaitable[tuple[str, bool]]]
) -> Message | None:
    """The user message answering each tool use of `message` in order; None when it asks for none.

    `answer` returns one use's result text and whether it is an error.
    """
    uses = message.tool_uses
    if not uses:
        return None
    results: list[ToolResultBlock] = []
    for use in uses:
        text, is_error = await answer(use)
        results.append(ToolResultBlock(tool_use_id=use.id, text=text, is_error=is_error))
    return Message(role="user", content=tuple(results))


async def converse(
    question: str,
    *,
    model: BaseModelClient,
    system: str,
    tools: Sequence[ToolDefinition],
    take_turn: TurnFn,
    max_turns: int,
    settings: ModelSettings,
    profile: ModelProfile,
    meter: Meter,
    hooks: Hooks,
) -> RunResult:
    """Run the conversation until the model answers, `max_turns` pass or `run_timeout_s` elapses."""
    messages: list[Message] = [user_text(question)]
    answer = ""
    stop: Stop = "max_turns"
    with anyio.move_on_after(settings.run_timeout_s) as scope:
        for _ in range(max_turns):
            request = ModelRequest(
                system=system,
                messages=tuple(messages),
                tools=tuple(tools),
                max_tokens=settings.max_tokens,
                temperature=settings.temperature,
                cache=profile.cache_points,
            )
            response = await send(model, request, hooks)
            meter.add_response(response)
            messages.append(response.message)
            answer = response.message.text
            follow_up = await take_turn(response.message)
            if follow_up is None:
                stop = "answered"
                break
            messages.append(follow_up)
    if scope.cancelled_caught:
        stop = "timeout"
    return RunResult(answer=answer.strip(), stop=stop, stats=meter.freeze())
