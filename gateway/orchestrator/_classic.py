"""Classic mode: the same fleet as ordinary toolConfig tools, called one by one by the model.

This is the A/B baseline for PTC: every tool result passes through the model's context. Tool names
are adapted to Bedrock's tool-spec limits (`[a-zA-Z0-9_-]{1,64}`) and mapped back to `ToolRef`s;
schemas get the top-level `type: object` Bedrock requires.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gateway.config import ModelSettings
from gateway.errors import ConfigError, UpstreamError
from gateway.models import (
    BaseModelClient,
    Message,
    ModelProfile,
    ToolDefinition,
    ToolUseBlock,
    configured_profile,
)
from gateway.orchestrator._accounting import Meter, RunResult
from gateway.orchestrator._loop import Hooks, answer_tool_uses, converse
from gateway.orchestrator._system_prompt import cap_text
from gateway.tools import (
    AudioContent,
    BaseToolSource,
    ImageContent,
    JsonObject,
    JsonValue,
    ResourceContent,
    ResourceLinkContent,
    TextContent,
    ToolRef,
    ToolResult,
    ToolSpec,
)

__all__ = ["CLASSIC_SYSTEM_PROMPT", "ClassicToolset", "result_text", "run_classic"]

CLASSIC_SYSTEM_PROMPT = """\
You answer the user's question with the tools provided. Call them as needed; when you have what
you need, answer the question in plain text without calling a tool."""

MAX_TOOL_NAME = 64
_INVALID = re.compile(r"[^a-zA-Z0-9_-]")


def _bedrock_name(server: str, tool: str) -> str:
    name = _INVALID.sub("_", f"{server}__{tool}")
    if len(name) > MAX_TOOL_NAME:
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        name = f"{name[: MAX_TOOL_NAME - 9]}_{digest}"
    return name


def _adapt_schema(schema: JsonObject) -> JsonObject:
    adapted: JsonObject = {k: v for k, v in schema.items() if k not in ("$schema", "$id")}
    if adapted.get("type") != "object":
        adapted["type"] = "object"
    if not isinstance(adapted.get("properties"), dict):
        adapted["properties"] = {}
    return adapted


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassicToolset:
    """The fleet as Bedrock tool definitions, and the way back from a Bedrock name to the tool."""

    definitions: tuple[ToolDefinition, ...]
    refs: Mapping[str, ToolRef]

    @classmethod
    def build(cls, specs: Sequence[ToolSpec]) -> ClassicToolset:
        """Name deterministically, whatever order the servers answered in; collisions get `_2`, `_3`."""
        definitions: list[ToolDefinition] = []
        refs: dict[str, ToolRef] = {}
        for spec in sorted(specs, key=lambda s: (s.server, s.name)):
            base = _bedrock_name(spec.server, spec.name)
            name, n = base, 1
            while name in refs:
                n += 1
                suffix = f"_{n}"
                name = base[: MAX_TOOL_NAME - len(suffix)] + suffix
            refs[name] = spec.ref
            description = spec.description or spec.title or f"{spec.name} on the {spec.server} server"
            definitions.append(
                ToolDefinition(name=name, description=description, input_schema=_adapt_schema(spec.input_schema))
            )
        return cls(definitions=tuple(definitions), refs=refs)


def result_text(result: ToolResult) -> str:
    """A tool result as text for the model.

    The structured result when the server sent one (compact and canonical: servers often also send
    it pretty-printed, or one text block per list item); else the content blocks as text.
    """
    if result.has_structured:
        return json.dumps(result.structured)
    parts: list[str] = []
    for block in result.content:
        match block:
            case TextContent(text=text):
                parts.append(text)
            case ImageContent(mime_type=mime, data=data) | AudioContent(mime_type=mime, data=data):
                parts.append(f"[{block.type} {mime}, {len(data)} base64 chars]")
            case ResourceContent(uri=uri, text=text):
                parts.append(text if text is not None else f"[resource {uri}]")
            case ResourceLinkContent(uri=uri):
                parts.append(f"[resource link {uri}]")
    return "\n".join(parts) or "(no content)"


async def run_classic(
    question: str,
    *,
    model: BaseModelClient,
    source: BaseToolSource,
    settings: ModelSettings,
    profile: ModelProfile | None = None,
    hooks: Hooks | None = None,
) -> RunResult:
    """Answer `question` with the fleet's tools offered directly to the model."""
    hooks = hooks or Hooks()
    profile = profile or configured_profile(model.model_id, settings)
    if not profile.tool_use:
        raise ConfigError(
            f"classic mode needs native tool use and {model.model_id!r} is configured without it", key="model.tool_use"
        )
    toolset = ClassicToolset.build(await source.list_tools())
    meter = Meter(mode="classic", model_id=model.model_id)

    async def call_tool(use: ToolUseBlock) -> tuple[str, bool]:
        text, is_error = await _call(source, toolset, use.name, use.input, hooks)
        if use.name in toolset.refs:
            meter.tool_calls += 1
        text = cap_text(text, settings.tool_result_max_bytes)
        meter.add_output(text)
        if hooks.on_result is not None:
            await hooks.on_result(text, is_error)
        return text, is_error

    async def take_turn(message: Message) -> Message | None:
        return await answer_tool_uses(message, call_tool)

    return await converse(
        question,
        model=model,
        system=CLASSIC_SYSTEM_PROMPT,
        tools=toolset.definitions,
        take_turn=take_turn,
        max_turns=settings.classic_max_turns,
        settings=settings,
        profile=profile,
        meter=meter,
        hooks=hooks,
    )


async def _call(
    source: BaseToolSource, toolset: ClassicToolset, name: str, arguments: Mapping[str, JsonValue], hooks: Hooks
) -> tuple[str, bool]:
    ref = toolset.refs.get(name)
    if ref is None:
        return f"unknown tool {name!r}", True
    if hooks.on_tool_call is not None:
        await hooks.on_tool_call(name)
    try:
        result = await source.call_tool(ref, arguments)
    except UpstreamError as e:
        # What an MCP client shows a model when the server is down: an error result, not a crash.
        return f"tool {ref} failed: {e}", True
    return result_text(result), result.is_error
