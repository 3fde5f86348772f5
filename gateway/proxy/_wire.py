"""The Anthropic Messages wire format at the proxy's edge: request checks, the Bedrock body, SSE events.

Client bodies are untrusted JSON: the few fields the proxy acts on are checked here (types,
sizes); everything else is passed to Bedrock through an allow-list of keys, with the fields
Bedrock rejects removed (`caller` on `tool_use` history blocks, `allowed_callers` on tools, beta
flags outside `[proxy] beta_allow_list`).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

from gateway.models import ANTHROPIC_VERSION
from gateway.proxy._errors import ApiError

__all__ = [
    "CODE_EXECUTION_TYPES",
    "bedrock_body",
    "beta_flags",
    "check_request",
    "clean_tool",
    "content_blocks",
    "message_events",
    "new_message_id",
    "sse",
    "strip_caller",
]

CODE_EXECUTION_TYPES: frozenset[str] = frozenset(
    {"code_execution_20250522", "code_execution_20250825", "code_execution_20260120", "code_execution_20260521"}
)
"""Every code-execution tool version the current Anthropic SDK knows; any of them turns PTC on."""

BODY_KEYS: frozenset[str] = frozenset(
    {"max_tokens", "messages", "system", "temperature", "top_p", "top_k", "stop_sequences", "tools", "tool_choice"}
    | {"thinking"}
)
"""Request fields forwarded to Bedrock's Anthropic body. Not forwarded: `model` (the path names it),
`stream` (the API chooses it), `container`, `metadata`, `service_tier`, `mcp_servers` (Bedrock's body
has no such fields and rejects unknown keys)."""

_TOOL_DROP = frozenset({"allowed_callers", "defer_loading", "input_examples", "eager_input_streaming"})
MAX_MESSAGES = 10_000


def new_message_id() -> str:
    """A fresh `msg_` id."""
    return f"msg_{secrets.token_hex(12)}"


def check_request(body: object, *, count_only: bool = False) -> dict[str, Any]:
    """The request body as a JSON object with the fields the proxy reads well-typed; 400 otherwise.

    `count_only`: a count_tokens request (no `max_tokens`; 1 is filled in for Bedrock's body).
    """
    if not isinstance(body, dict):
        raise ApiError("invalid_request_error", "the request body must be a JSON object")
    data = cast(dict[str, Any], body)
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError("invalid_request_error", "messages: a non-empty list of messages is required")
    if len(cast(list[Any], messages)) > MAX_MESSAGES:
        raise ApiError("invalid_request_error", f"messages: at most {MAX_MESSAGES} messages")
    for i, message in enumerate(cast(list[Any], messages)):
        if not isinstance(message, dict) or cast(dict[str, Any], message).get("role") not in ("user", "assistant"):
            raise ApiError("invalid_request_error", f"messages.{i}: a message needs role 'user' or 'assistant'")
        content = cast(dict[str, Any], message).get("content")
        if not isinstance(content, str | list):
            raise ApiError("invalid_request_error", f"messages.{i}.content: a string or a list of blocks")
        if isinstance(content, list):
            _check_blocks(cast(list[Any], content), f"messages.{i}.content")
    if count_only:
        data = {**data, "max_tokens": 1}
    max_tokens = data.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise ApiError("invalid_request_error", "max_tokens: a positive integer is required")
    tools = data.get("tools", [])
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in cast(list[Any], tools)):
        raise ApiError("invalid_request_error", "tools: a list of tool objects")
    for i, tool in enumerate(cast(list[dict[str, Any]], tools)):
        for key in ("type", "name"):
            if not isinstance(tool.get(key, ""), str):
                raise ApiError("invalid_request_error", f"tools.{i}.{key}: a string")
    if not isinstance(data.get("stream", False), bool):
        raise ApiError("invalid_request_error", "stream: a boolean")
    return data


def _check_blocks(blocks: list[Any], where: str) -> None:
    """The ids and kinds the proxy compares and looks up (sets, dicts) are strings, or absent."""
    for j, block in enumerate(blocks):
        if not isinstance(block, dict):
            continue  # refused by `content_blocks` where it matters
        block = cast(dict[str, Any], block)
        for key in ("type", "id", "tool_use_id", "name"):
            if not isinstance(block.get(key, ""), str):
                raise ApiError("invalid_request_error", f"{where}.{j}.{key}: a string")
        caller = block.get("caller")
        if caller is not None and not (
            isinstance(caller, dict) and isinstance(cast(dict[str, Any], caller).get("type", ""), str)
        ):
            raise ApiError("invalid_request_error", f"{where}.{j}.caller: an object with a string type")


def content_blocks(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A message's content as blocks (a string is one text block); non-object entries are refused."""
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    blocks = cast(list[Any], content)
    if not all(isinstance(b, dict) and isinstance(cast(dict[str, Any], b).get("type"), str) for b in blocks):
        raise ApiError("invalid_request_error", "messages: every content block is an object with a type")
    return cast(list[dict[str, Any]], blocks)


def strip_caller(block: Mapping[str, Any]) -> dict[str, Any]:
    """A `tool_use` block without `caller` (Bedrock: "Extra inputs are not permitted")."""
    return {k: v for k, v in block.items() if k != "caller"}


def clean_tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    """A client tool as Bedrock accepts it (no `allowed_callers` and other Anthropic-only fields)."""
    return {k: v for k, v in tool.items() if k not in _TOOL_DROP}


def clean_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The history with `caller` removed from `tool_use` blocks."""
    out: list[dict[str, Any]] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            blocks = content_blocks(message)
            content = [strip_caller(b) if b["type"] == "tool_use" else b for b in blocks]
        out.append({"role": message["role"], "content": content})
    return out


def beta_flags(header: str | None, allowed: Sequence[str]) -> list[str]:
    """The `anthropic-beta` flags Bedrock may see (the allow-list), in the client's order."""
    if not header:
        return []
    allow = set(allowed)
    return [flag for flag in (part.strip() for part in header.split(",")) if flag in allow][:32]


def bedrock_body(request: Mapping[str, Any], *, betas: Sequence[str]) -> dict[str, Any]:
    """The Anthropic body InvokeModel takes, from a client request."""
    body: dict[str, Any] = {"anthropic_version": ANTHROPIC_VERSION}
    for key in BODY_KEYS:
        if key in request:
            body[key] = request[key]
    body["messages"] = clean_messages(cast(list[dict[str, Any]], request["messages"]))
    if "tools" in body:
        body["tools"] = [clean_tool(t) for t in cast(list[dict[str, Any]], body["tools"])]
    if betas:
        body["anthropic_beta"] = list(betas)
    return body


# --- SSE ---------------------------------------------------------------------------------------------


def sse(event: Mapping[str, Any]) -> bytes:
    """One server-sent event, named after its `type`."""
    return f"event: {event['type']}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n".encode()


def _start_form(block: Mapping[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A complete block as its `content_block_start` form and the deltas that complete it."""
    kind = block.get("type")
    if kind == "text":
        start: dict[str, Any] = {**block, "text": ""}
        text = str(block.get("text", ""))
        return start, [{"type": "text_delta", "text": text}] if text else []
    if kind == "thinking":
        start = {**block, "thinking": "", "signature": ""}
        deltas: list[dict[str, Any]] = []
        if block.get("thinking"):
            deltas.append({"type": "thinking_delta", "thinking": block["thinking"]})
        if block.get("signature"):
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        return start, deltas
    if kind in ("tool_use", "server_tool_use"):
        start: dict[str, Any] = {**block, "input": {}}
        raw = json.dumps(block.get("input", {}), separators=(",", ":"))
        return start, [{"type": "input_json_delta", "partial_json": raw}] if raw != "{}" else []
    return dict(block), []


def message_events(message: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """A complete message as the stream events an SDK accumulates back into the same message."""
    usage = cast(Mapping[str, Any], message.get("usage") or {})
    start: dict[str, Any] = {
        **message,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**usage, "output_tokens": 0},
    }
    start.pop("container", None)
    yield {"type": "message_start", "message": start}
    for index, block in enumerate(cast(list[dict[str, Any]], message.get("content") or [])):
        first, deltas = _start_form(block)
        yield {"type": "content_block_start", "index": index, "content_block": first}
        for delta in deltas:
            yield {"type": "content_block_delta", "index": index, "delta": delta}
        yield {"type": "content_block_stop", "index": index}
    yield {
        "type": "message_delta",
        "delta": {
            "stop_reason": message.get("stop_reason"),
            "stop_sequence": message.get("stop_sequence"),
            "container": message.get("container"),
        },
        "usage": dict(usage),
    }
    yield {"type": "message_stop"}
