"""The return convention: a tool's `ToolResult` as the `result` frame the code in the sandbox reads.

structured content -> ``kind: json``; one text block that parses as JSON -> ``json``; other single
text -> ``text``; anything else -> ``content`` blocks; an error result, a failed call or a result
over ``max_result_bytes`` -> ``ok: false`` (a `ToolError` in the code). See docs/protocol.md.
"""

from __future__ import annotations

import json
from typing import Any

from bridge.protocol import TOOL_ERROR, ResultMessage, encode_frame
from gateway.catalog import CatalogTool
from gateway.tools import Content, JsonValue, TextContent, ToolResult

__all__ = ["error_message", "result_frame"]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
"""One stateless decoder (`json.loads` with options builds a new one per call)."""
_JSON_STARTS = frozenset('{["-0123456789tfn')
"""The characters a JSON text can start with: other text is plain text without a parse attempt."""


def _parse_json(text: str) -> tuple[bool, Any]:
    """(True, value) when `text` is a JSON text (NaN and Infinity are not), else (False, None)."""
    start = text.lstrip(" \t\n\r")[:1]
    if start not in _JSON_STARTS:
        return False, None
    try:
        return True, _DECODER.decode(text)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the interpreter can parse
        return False, None


def result_frame(
    nonce: str, call_id: int, result: ToolResult | str, tool: CatalogTool, max_result_bytes: int
) -> tuple[bytes, bool]:
    """Encode a call's outcome per the return convention; (frame, ok)."""
    message: ResultMessage
    if isinstance(result, str):
        message = error_message(call_id, result)
    elif result.is_error:
        text = "\n".join(block.text for block in result.content if isinstance(block, TextContent)).strip()
        message = error_message(call_id, text or f"{tool.id} reported an error")
    elif result.has_structured:
        message = {"type": "result", "id": call_id, "ok": True, "kind": "json", "value": result.structured}
    elif len(result.content) == 1 and isinstance(result.content[0], TextContent):
        text = result.content[0].text
        is_json, value = _parse_json(text)
        if is_json:
            message = {"type": "result", "id": call_id, "ok": True, "kind": "json", "value": value}
        else:
            message = {"type": "result", "id": call_id, "ok": True, "kind": "text", "value": text}
    else:
        blocks = [content_block(block) for block in result.content]
        message = {"type": "result", "id": call_id, "ok": True, "kind": "content", "value": blocks}
    try:
        data = encode_frame(nonce, message)
    except (TypeError, ValueError, RecursionError) as e:
        return encode_frame(nonce, error_message(call_id, f"{tool.id}: the result is not valid JSON ({e})")), False
    if len(data) > max_result_bytes:
        text = (
            f"{tool.id}: the result is {len(data)} bytes, over the max_result_bytes limit of {max_result_bytes}; "
            "ask for less (filters, pagination, smaller pages)"
        )
        return encode_frame(nonce, error_message(call_id, text)), False
    return data, message["ok"]


def error_message(call_id: int, text: str) -> ResultMessage:
    return {"type": "result", "id": call_id, "ok": False, "error": {"type": TOOL_ERROR, "message": text}}


def content_block(block: Content) -> dict[str, JsonValue]:
    """A content block as the runner's `Content` object reads it (None fields are left out)."""
    fields: dict[str, JsonValue] = {"type": block.type}
    for key in ("text", "data", "mime_type", "uri", "name", "description"):
        value = getattr(block, key, None)
        if isinstance(value, str):
            fields[key] = value
    blob = getattr(block, "blob", None)
    if isinstance(blob, str):
        fields["data"] = blob
    return fields
