"""SDK types in, our records out: the one place `mcp_types` tools and results are translated.

Nothing above `gateway.upstream` ever sees an SDK model. Schemas are deep-copied through JSON so
the records we hand out share no mutable state with the SDK's objects.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

import mcp_types as types

from gateway.tools import (
    AudioContent,
    Content,
    ImageContent,
    JsonObject,
    JsonValue,
    ResourceContent,
    ResourceLinkContent,
    TextContent,
    ToolAnnotations,
    ToolResult,
    ToolSpec,
)

__all__ = ["error_result", "request_meta", "tool_result", "tool_spec"]


def _json_copy(value: Any) -> JsonValue:
    """A deep, JSON-only copy (tuples become lists, non-JSON values their string form)."""
    return cast(JsonValue, json.loads(json.dumps(value, default=str)))


def _json_object(value: Mapping[str, Any]) -> JsonObject:
    copied = _json_copy(value)
    return copied if isinstance(copied, dict) else {}


def tool_spec(server: str, tool: types.Tool) -> ToolSpec:
    """Convert one listed tool of `server`."""
    hints = tool.annotations
    annotations = ToolAnnotations(
        title=hints.title if hints else None,
        read_only=hints.read_only_hint if hints else None,
        destructive=hints.destructive_hint if hints else None,
        idempotent=hints.idempotent_hint if hints else None,
        open_world=hints.open_world_hint if hints else None,
    )
    return ToolSpec(
        server=server,
        name=tool.name,
        title=tool.title or annotations.title,
        description=tool.description,
        input_schema=_json_object(tool.input_schema),
        output_schema=_json_object(tool.output_schema) if tool.output_schema is not None else None,
        annotations=annotations,
    )


def _content(block: types.ContentBlock) -> Content:
    match block:
        case types.TextContent():
            return TextContent(text=block.text)
        case types.ImageContent():
            return ImageContent(data=block.data, mime_type=block.mime_type)
        case types.AudioContent():
            return AudioContent(data=block.data, mime_type=block.mime_type)
        case types.ResourceLink():
            return ResourceLinkContent(
                uri=str(block.uri), name=block.name, mime_type=block.mime_type, description=block.description
            )
        case types.EmbeddedResource():
            resource = block.resource
            if isinstance(resource, types.TextResourceContents):
                return ResourceContent(uri=str(resource.uri), mime_type=resource.mime_type, text=resource.text)
            return ResourceContent(uri=str(resource.uri), mime_type=resource.mime_type, blob=resource.blob)
        case _:  # a block kind from a newer revision than this converter knows
            kind = cast(object, getattr(block, "type", "unknown"))
            return TextContent(text=f"[unsupported content block: {kind}]")


def tool_result(result: types.CallToolResult) -> ToolResult:
    """Convert a `CallToolResult`, keeping whether `structuredContent` was sent at all."""
    has_structured = result.structured_content is not None or "structured_content" in result.model_fields_set
    return ToolResult(
        content=tuple(_content(block) for block in result.content),
        structured=_json_copy(result.structured_content) if has_structured else None,
        has_structured=has_structured,
        is_error=result.is_error,
    )


def error_result(message: str) -> ToolResult:
    """A tool failure reported by the server as a protocol error (unknown tool, invalid arguments…)."""
    return ToolResult(content=(TextContent(text=message),), is_error=True)


def request_meta(meta: Mapping[str, JsonValue] | None) -> types.RequestParamsMeta | None:
    """Our `CallOptions["meta"]` as the SDK's request `_meta` (an open map)."""
    if not meta:
        return None
    return cast(types.RequestParamsMeta, dict(meta))
