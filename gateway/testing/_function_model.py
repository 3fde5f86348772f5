"""`FunctionModelClient`: the model seam played by a function over our own records (pydantic-ai's FunctionModel)."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeAlias

from gateway.models import (
    BaseModelClient,
    Message,
    ModelRequest,
    ModelResponse,
    StopReason,
    TextBlock,
    ToolUseBlock,
    Usage,
)
from gateway.tools import JsonObject

__all__ = ["FunctionModelClient", "ModelFunction", "scripted_replies", "text_reply", "tool_use_reply"]

ModelFunction: TypeAlias = Callable[[ModelRequest], ModelResponse | Awaitable[ModelResponse]]
"""Plays the model: one request in, one response out (sync or async)."""

CHARS_PER_TOKEN = 4
"""Usage the client reports when the function's response has none: characters / 4, an estimate."""


class FunctionModelClient(BaseModelClient):
    """A `BaseModelClient` whose replies come from `function`; records every request it was sent.

    For tests of agents built on the gateway (and of the gateway's own loops) without a provider::

        def model(request: ModelRequest) -> ModelResponse:
            if not request.messages[-1].content or request.messages[-1].text:
                return tool_use_reply("execute_code", {"code": "print(1)"})
            return text_reply("done")

        client = FunctionModelClient(model)

    Responses whose usage is all zero get an estimate (request characters / 4 in, reply / 4 out), so
    token accounting has something to add up. The wire-level Bedrock endpoint in `tests/bedrock/` stays
    the test of the Bedrock client itself.
    """

    def __init__(self, function: ModelFunction, *, model_id: str = "function-model") -> None:
        self.function = function
        self._model_id = model_id
        self.requests: list[ModelRequest] = []

    @property
    def model_id(self) -> str:
        """The id given at construction (per-family defaults key off it)."""
        return self._model_id

    async def request(self, request: ModelRequest) -> ModelResponse:
        """Record `request` and return what the function answers."""
        self.requests.append(request)
        reply = self.function(request)
        response = await reply if inspect.isawaitable(reply) else reply
        if response.usage == Usage():
            response = ModelResponse(
                message=response.message, stop_reason=response.stop_reason, usage=_estimate(request, response.message)
            )
        return response


def text_reply(text: str, *, stop_reason: StopReason = "end_turn") -> ModelResponse:
    """The model answers with text."""
    return ModelResponse(
        message=Message(role="assistant", content=(TextBlock(text=text),)), stop_reason=stop_reason, usage=Usage()
    )


def tool_use_reply(name: str, arguments: JsonObject, *, text: str = "", id: str | None = None) -> ModelResponse:
    """The model asks for one tool call (after optional text)."""
    blocks: list[TextBlock | ToolUseBlock] = [TextBlock(text=text)] if text else []
    blocks.append(ToolUseBlock(id=id or f"toolu_{uuid.uuid4().hex[:24]}", name=name, input=arguments))
    return ModelResponse(
        message=Message(role="assistant", content=tuple(blocks)), stop_reason="tool_use", usage=Usage()
    )


def scripted_replies(replies: Iterable[ModelResponse]) -> ModelFunction:
    """A model function that answers with `replies` in order, whatever it is asked; fails when they run out."""
    remaining = iter(replies)

    def next_reply(request: ModelRequest) -> ModelResponse:
        try:
            return next(remaining)
        except StopIteration:
            raise AssertionError(
                f"the script has no reply left for a request of {len(request.messages)} messages"
            ) from None

    return next_reply


def _estimate(request: ModelRequest, reply: Message) -> Usage:
    chars = len(request.system) + sum(len(str(block)) for message in request.messages for block in message.content)
    chars += sum(len(tool.name) + len(tool.description) + len(str(tool.input_schema)) for tool in request.tools)
    out = sum(len(str(block)) for block in reply.content)
    return Usage(input_tokens=-(-chars // CHARS_PER_TOKEN), output_tokens=-(-out // CHARS_PER_TOKEN))
