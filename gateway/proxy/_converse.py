"""Anthropic Messages bodies ⇄ Bedrock Converse, for models that do not take the Anthropic body.

Text, base64 images, tool definitions, `tool_choice`, `tool_use` / `tool_result` (text content),
`stop_sequences`, `temperature`, `top_p` and `max_tokens` translate; what Converse cannot carry
(documents, thinking, `cache_control`, `top_k`) is refused with a 400 that names it rather than
dropped silently.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Mapping
from typing import Any, cast

from gateway.proxy._errors import ApiError

__all__ = ["converse_request", "from_converse"]

_IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp"}
_STOP_REASONS = {
    "end_turn": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "guardrail_intervened": "refusal",
    "content_filtered": "refusal",
}


def _refuse(what: str) -> ApiError:
    return ApiError("invalid_request_error", f"{what} cannot be sent to this model through Converse")


def _invalid(field: str, what: str) -> ApiError:
    return ApiError("invalid_request_error", f"{field}: {what}")


def _object(value: object, field: str) -> Mapping[str, Any]:
    """`value` when it is a JSON object (absent: empty), else a 400 naming `field`."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _invalid(field, "an object")
    return cast(Mapping[str, Any], value)


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for block in cast(list[Any], content):
            if isinstance(block, Mapping) and cast(Mapping[str, Any], block).get("type") == "text":
                parts.append(str(cast(Mapping[str, Any], block).get("text", "")))
            else:
                raise _refuse("tool_result content other than text")
        return "".join(parts)
    return ""


def _block(block: Mapping[str, Any]) -> dict[str, Any] | None:
    kind = block.get("type")
    if kind == "text":
        text = str(block.get("text", ""))
        return {"text": text} if text else None
    if kind == "image":
        source = _object(block.get("source"), "image.source")
        fmt = _IMAGE_FORMATS.get(str(source.get("media_type")))
        if source.get("type") != "base64" or fmt is None:
            raise _refuse("an image that is not base64 PNG, JPEG, GIF or WebP")
        try:
            data = base64.b64decode(str(source.get("data", "")), validate=True)
        except (binascii.Error, ValueError) as e:
            raise ApiError("invalid_request_error", "image.source.data is not valid base64") from e
        return {"image": {"format": fmt, "source": {"bytes": data}}}
    if kind == "tool_use":
        tool_input = _object(block.get("input"), "tool_use.input")
        return {"toolUse": {"toolUseId": block.get("id"), "name": block.get("name"), "input": dict(tool_input)}}
    if kind == "tool_result":
        text = _text(block.get("content", "")) or "(empty)"
        status = "error" if block.get("is_error") else "success"
        return {"toolResult": {"toolUseId": block.get("tool_use_id"), "content": [{"text": text}], "status": status}}
    raise _refuse(f"a {str(kind)[:40]!r} block")


def converse_request(body: Mapping[str, Any]) -> dict[str, Any]:
    """Converse keyword arguments (without `modelId`) for an Anthropic body."""
    for key in ("thinking", "top_k"):
        if key in body:
            raise _refuse(f"`{key}`")
    request: dict[str, Any] = {}
    system = body.get("system")
    if isinstance(system, str) and system:
        request["system"] = [{"text": system}]
    elif isinstance(system, list):
        request["system"] = [{"text": _text([b])} for b in cast(list[Any], system)]
    messages: list[dict[str, Any]] = []
    for message in cast(list[Mapping[str, Any]], body["messages"]):
        content = message["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else cast(list[Any], content)
        converted = [c for c in (_block(cast(Mapping[str, Any], b)) for b in blocks) if c is not None]
        if converted:
            messages.append({"role": message["role"], "content": converted})
    request["messages"] = messages
    config: dict[str, Any] = {"maxTokens": body["max_tokens"]}
    for ours, theirs in (("temperature", "temperature"), ("top_p", "topP")):
        if ours in body:
            value = body[ours]
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise _invalid(ours, "a number")
            config[theirs] = value
    if "stop_sequences" in body:
        stops = body["stop_sequences"]
        if not isinstance(stops, list) or not all(isinstance(x, str) for x in cast(list[Any], stops)):
            raise _invalid("stop_sequences", "a list of strings")
        config["stopSequences"] = stops
    request["inferenceConfig"] = config
    tools = cast(list[Mapping[str, Any]], body.get("tools") or [])
    if tools:
        specs: list[dict[str, Any]] = []
        for i, tool in enumerate(tools):
            if "input_schema" not in tool:
                raise _refuse(f"the server tool {str(tool.get('type'))[:40]!r}")
            name, description = tool.get("name"), tool.get("description")
            if not isinstance(name, str):
                raise _invalid(f"tools.{i}.name", "a string is required")
            if description is not None and not isinstance(description, str):
                raise _invalid(f"tools.{i}.description", "a string")
            spec = {
                "name": name,
                "inputSchema": {"json": dict(_object(tool["input_schema"], f"tools.{i}.input_schema"))},
            }
            if description:
                spec["description"] = description
            specs.append({"toolSpec": spec})
        tool_config: dict[str, Any] = {"tools": specs}
        choice = _object(body.get("tool_choice"), "tool_choice")
        match choice.get("type"):
            case "any":
                tool_config["toolChoice"] = {"any": {}}
            case "tool":
                if not isinstance(choice.get("name"), str):
                    raise _invalid("tool_choice.name", "a string is required")
                tool_config["toolChoice"] = {"tool": {"name": choice["name"]}}
            case "none":
                raise _refuse("tool_choice none")
            case _:
                pass
        request["toolConfig"] = tool_config
    return request


def from_converse(raw: Mapping[str, Any], *, model: str) -> dict[str, Any]:
    """An Anthropic response message from a Converse response."""
    output = cast(Mapping[str, Any], raw.get("output") or {})
    message = cast(Mapping[str, Any], output.get("message") or {})
    content: list[dict[str, Any]] = []
    for block in cast(list[Mapping[str, Any]], message.get("content") or []):
        if "text" in block:
            content.append({"type": "text", "text": str(block["text"])})
        elif "toolUse" in block:
            use = cast(Mapping[str, Any], block["toolUse"])
            content.append(
                {"type": "tool_use", "id": use.get("toolUseId"), "name": use.get("name"), "input": use.get("input", {})}
            )
    usage = cast(Mapping[str, Any], raw.get("usage") or {})
    stop = _STOP_REASONS.get(str(raw.get("stopReason")), "end_turn")
    return {
        "id": f"msg_{secrets.token_hex(12)}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {
            "input_tokens": int(usage.get("inputTokens") or 0),
            "output_tokens": int(usage.get("outputTokens") or 0),
            "cache_read_input_tokens": int(usage.get("cacheReadInputTokens") or 0),
            "cache_creation_input_tokens": int(usage.get("cacheWriteInputTokens") or 0),
        },
    }
