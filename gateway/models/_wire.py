"""Bedrock wire bodies ⇄ our records: Converse (and its stream events) and the Anthropic Messages body.

Pure functions over plain dicts; no boto3 here, so the same code serves the client and tests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from gateway.models._base import (
    ContentBlock,
    Message,
    ModelRequest,
    ModelResponse,
    StopReason,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)
from gateway.models._families import ModelProfile
from gateway.tools import JsonObject

__all__ = [
    "ANTHROPIC_VERSION",
    "StreamAccumulator",
    "anthropic_body",
    "converse_kwargs",
    "parse_anthropic_response",
    "parse_converse_response",
]

ANTHROPIC_VERSION = "bedrock-2023-05-31"

_STOP_REASONS: Mapping[str, StopReason] = {
    "end_turn": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "content_filtered": "content_filtered",
    "guardrail_intervened": "content_filtered",
    "refusal": "content_filtered",
}


def _stop_reason(raw: object) -> StopReason:
    return _STOP_REASONS.get(raw, "other") if isinstance(raw, str) else "other"


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


# --- Converse -------------------------------------------------------------------------------------


def _converse_block(block: ContentBlock, *, profile: ModelProfile) -> dict[str, Any] | None:
    match block:
        case TextBlock(text=text):
            # Converse rejects empty text blocks.
            return {"text": text} if text else None
        case ToolUseBlock(id=tool_id, name=name, input=tool_input):
            return {"toolUse": {"toolUseId": tool_id, "name": name, "input": tool_input}}
        case ToolResultBlock(tool_use_id=tool_id, text=text, is_error=is_error):
            result: dict[str, Any] = {"toolUseId": tool_id, "content": [{"text": text or "(no output)"}]}
            # `status` is only accepted by Claude models; others read the error from the text.
            if profile.anthropic:
                result["status"] = "error" if is_error else "success"
            return {"toolResult": result}


def converse_kwargs(request: ModelRequest, *, model_id: str, profile: ModelProfile) -> dict[str, Any]:
    """Keyword arguments for `converse` / `converse_stream`."""
    cache = request.cache and profile.cache_points
    system: list[dict[str, Any]] = [{"text": request.system}]
    if cache:
        system.append({"cachePoint": {"type": "default"}})
    messages: list[dict[str, Any]] = []
    for message in request.messages:
        content = [b for b in (_converse_block(block, profile=profile) for block in message.content) if b is not None]
        messages.append({"role": message.role, "content": content or [{"text": "(empty)"}]})
    inference: dict[str, Any] = {"maxTokens": request.max_tokens}
    if request.temperature is not None:
        inference["temperature"] = request.temperature
    kwargs: dict[str, Any] = {
        "modelId": model_id,
        "system": system,
        "messages": messages,
        "inferenceConfig": inference,
    }
    if request.tools:
        tools: list[dict[str, Any]] = []
        for t in request.tools:
            spec: dict[str, Any] = {"name": t.name, "inputSchema": {"json": t.input_schema}}
            if t.description:  # Converse requires a non-empty description when one is given
                spec["description"] = t.description
            tools.append({"toolSpec": spec})
        if cache and profile.anthropic:
            # Claude caches the tool list too; Nova caches system and messages only.
            tools.append({"cachePoint": {"type": "default"}})
        kwargs["toolConfig"] = {"tools": tools}
    return kwargs


def _parse_converse_block(raw: Mapping[str, Any]) -> ContentBlock | None:
    if "text" in raw:
        return TextBlock(text=str(raw["text"]))
    if "toolUse" in raw:
        use = cast(Mapping[str, Any], raw["toolUse"])
        tool_input = use.get("input")
        return ToolUseBlock(
            id=str(use["toolUseId"]),
            name=str(use["name"]),
            input=cast(JsonObject, tool_input) if isinstance(tool_input, dict) else {},
        )
    return None  # reasoning, citations, images: not used by the orchestrator


def _parse_usage_converse(raw: object) -> Usage:
    empty: Mapping[str, Any] = {}
    usage = cast(Mapping[str, Any], raw) if isinstance(raw, Mapping) else empty
    return Usage(
        input_tokens=_int(usage.get("inputTokens")),
        output_tokens=_int(usage.get("outputTokens")),
        cache_read_input_tokens=_int(usage.get("cacheReadInputTokens")),
        cache_write_input_tokens=_int(usage.get("cacheWriteInputTokens")),
    )


def parse_converse_response(raw: Mapping[str, Any]) -> ModelResponse:
    """A Converse response dict → `ModelResponse`."""
    message = cast(Mapping[str, Any], cast(Mapping[str, Any], raw.get("output", {})).get("message", {}))
    blocks = [_parse_converse_block(cast(Mapping[str, Any], b)) for b in message.get("content", [])]
    return ModelResponse(
        message=Message(role="assistant", content=tuple(b for b in blocks if b is not None)),
        stop_reason=_stop_reason(raw.get("stopReason")),
        usage=_parse_usage_converse(raw.get("usage")),
    )


@dataclass(slots=True)
class _PartialBlock:
    text: list[str] = field(default_factory=list[str])
    tool_id: str | None = None
    tool_name: str | None = None


@dataclass(slots=True)
class StreamAccumulator:
    """Folds ConverseStream events into one `ModelResponse`; yields text deltas as they come."""

    _blocks: dict[int, _PartialBlock] = field(default_factory=dict[int, _PartialBlock])
    _stop: StopReason = "other"
    _usage: Usage = field(default_factory=Usage)

    def feed(self, event: Mapping[str, Any]) -> str | None:
        """Take one event; return its text delta, if it carries one."""
        if "contentBlockStart" in event:
            start_event = cast(Mapping[str, Any], event["contentBlockStart"])
            start = cast(Mapping[str, Any], start_event.get("start", {}))
            block = self._blocks.setdefault(_int(start_event.get("contentBlockIndex")), _PartialBlock())
            if "toolUse" in start:
                use = cast(Mapping[str, Any], start["toolUse"])
                block.tool_id, block.tool_name = str(use["toolUseId"]), str(use["name"])
        elif "contentBlockDelta" in event:
            delta_event = cast(Mapping[str, Any], event["contentBlockDelta"])
            delta = cast(Mapping[str, Any], delta_event.get("delta", {}))
            block = self._blocks.setdefault(_int(delta_event.get("contentBlockIndex")), _PartialBlock())
            if "text" in delta:
                block.text.append(str(delta["text"]))
                return str(delta["text"])
            if "toolUse" in delta:
                block.text.append(str(cast(Mapping[str, Any], delta["toolUse"]).get("input", "")))
        elif "messageStop" in event:
            self._stop = _stop_reason(cast(Mapping[str, Any], event["messageStop"]).get("stopReason"))
        elif "metadata" in event:
            self._usage = _parse_usage_converse(cast(Mapping[str, Any], event["metadata"]).get("usage"))
        return None

    def response(self) -> ModelResponse:
        """The reply assembled so far."""
        content: list[ContentBlock] = []
        for _, block in sorted(self._blocks.items()):
            joined = "".join(block.text)
            if block.tool_id is not None and block.tool_name is not None:
                try:
                    parsed: object = json.loads(joined) if joined else {}
                except json.JSONDecodeError:
                    parsed = {}
                tool_input = cast(JsonObject, parsed) if isinstance(parsed, dict) else {}
                content.append(ToolUseBlock(id=block.tool_id, name=block.tool_name, input=tool_input))
            elif joined:
                content.append(TextBlock(text=joined))
        return ModelResponse(
            message=Message(role="assistant", content=tuple(content)), stop_reason=self._stop, usage=self._usage
        )


# --- Anthropic Messages body (InvokeModel) --------------------------------------------------------


def _anthropic_block(block: ContentBlock) -> dict[str, Any] | None:
    match block:
        case TextBlock(text=text):
            return {"type": "text", "text": text} if text else None
        case ToolUseBlock(id=tool_id, name=name, input=tool_input):
            return {"type": "tool_use", "id": tool_id, "name": name, "input": tool_input}
        case ToolResultBlock(tool_use_id=tool_id, text=text, is_error=is_error):
            return {
                "type": "tool_result",
                "tool_use_id": tool_id,
                "content": text or "(no output)",
                "is_error": is_error,
            }


def anthropic_body(request: ModelRequest, *, profile: ModelProfile) -> dict[str, Any]:
    """The InvokeModel body for a Claude model (Anthropic Messages API, Bedrock flavour)."""
    cache = request.cache and profile.cache_points
    system: dict[str, Any] = {"type": "text", "text": request.system}
    if cache:
        system["cache_control"] = {"type": "ephemeral"}
    messages: list[dict[str, Any]] = []
    for message in request.messages:
        content = [b for b in (_anthropic_block(block) for block in message.content) if b is not None]
        messages.append({"role": message.role, "content": content or [{"type": "text", "text": "(empty)"}]})
    body: dict[str, Any] = {
        "anthropic_version": ANTHROPIC_VERSION,
        "max_tokens": request.max_tokens,
        "system": [system],
        "messages": messages,
    }
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.tools:
        tools: list[dict[str, Any]] = [
            {"name": t.name, "description": t.description, "input_schema": t.input_schema} for t in request.tools
        ]
        if cache:
            tools[-1]["cache_control"] = {"type": "ephemeral"}
        body["tools"] = tools
    return body


def parse_anthropic_response(raw: Mapping[str, Any]) -> ModelResponse:
    """An Anthropic Messages response body → `ModelResponse`."""
    content: list[ContentBlock] = []
    for item in cast(Sequence[Mapping[str, Any]], raw.get("content", [])):
        match item.get("type"):
            case "text":
                content.append(TextBlock(text=str(item.get("text", ""))))
            case "tool_use":
                tool_input = item.get("input")
                content.append(
                    ToolUseBlock(
                        id=str(item["id"]),
                        name=str(item["name"]),
                        input=cast(JsonObject, tool_input) if isinstance(tool_input, dict) else {},
                    )
                )
            case _:
                pass  # thinking, redacted thinking: not used by the orchestrator
    usage = cast(Mapping[str, Any], raw.get("usage", {}))
    return ModelResponse(
        message=Message(role="assistant", content=tuple(content)),
        stop_reason=_stop_reason(raw.get("stop_reason")),
        usage=Usage(
            input_tokens=_int(usage.get("input_tokens")),
            output_tokens=_int(usage.get("output_tokens")),
            cache_read_input_tokens=_int(usage.get("cache_read_input_tokens")),
            cache_write_input_tokens=_int(usage.get("cache_creation_input_tokens")),
        ),
    )
