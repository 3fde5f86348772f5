"""The model seam: our own message records and `BaseModelClient` (one request → one response).

Provider types (botocore dicts, Anthropic bodies) never cross this line: each client converts
`ModelRequest` to its wire format and the reply back to `ModelResponse`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, TypeAlias

from gateway.tools import JsonObject

__all__ = [
    "BaseModelClient",
    "ContentBlock",
    "Message",
    "ModelRequest",
    "ModelResponse",
    "Role",
    "StopReason",
    "TextBlock",
    "TextSink",
    "ToolDefinition",
    "ToolResultBlock",
    "ToolUseBlock",
    "Usage",
]

Role = Literal["user", "assistant"]
StopReason = Literal["end_turn", "tool_use", "max_tokens", "stop_sequence", "content_filtered", "other"]
TextSink: TypeAlias = Callable[[str], Awaitable[None]]
"""Receives streamed text deltas as they arrive."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TextBlock:
    """Plain text from the user or the model."""

    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolUseBlock:
    """The model asks for a tool call."""

    id: str
    name: str
    input: JsonObject


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolResultBlock:
    """The outcome of a tool call, sent back in a user message."""

    tool_use_id: str
    text: str
    is_error: bool = False


ContentBlock: TypeAlias = TextBlock | ToolUseBlock | ToolResultBlock


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One turn of the conversation."""

    role: Role
    content: tuple[ContentBlock, ...]

    @property
    def text(self) -> str:
        """All text blocks joined."""
        return "".join(block.text for block in self.content if isinstance(block, TextBlock))

    @property
    def tool_uses(self) -> tuple[ToolUseBlock, ...]:
        """The tool calls the model asked for, in order."""
        return tuple(block for block in self.content if isinstance(block, ToolUseBlock))


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolDefinition:
    """A tool offered to the model (already within the provider's name limits)."""

    name: str
    description: str
    input_schema: JsonObject


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelRequest:
    """Everything one model call needs."""

    system: str
    messages: tuple[Message, ...]
    tools: tuple[ToolDefinition, ...] = ()
    max_tokens: int = 4096
    temperature: float | None = None
    cache: bool = False
    """Mark the system prompt and tool list as a prompt-cache prefix (where the model supports it)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """Token counts as reported by the provider."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_write_input_tokens: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelResponse:
    """The model's reply."""

    message: Message
    stop_reason: StopReason
    usage: Usage


class BaseModelClient(ABC):
    """One request → one response. Implementations map their failures to `ModelError`."""

    @property
    @abstractmethod
    def model_id(self) -> str:
        """The provider's model id (used for per-family defaults and reports)."""

    @abstractmethod
    async def request(self, request: ModelRequest) -> ModelResponse:
        """Send one request and wait for the whole reply."""

    async def request_stream(self, request: ModelRequest, on_text: TextSink) -> ModelResponse:
        """Like `request`, feeding text to `on_text` as it arrives. Default: all at once at the end."""
        response = await self.request(request)
        if text := response.message.text:
            await on_text(text)
        return response
