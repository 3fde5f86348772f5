"""Our own records for tools and tool results, and the one seam every tool source implements.

MCP SDK types never cross this line: the upstream module converts them to `ToolSpec` and
`ToolResult` where it talks to the SDK. Everything above (catalog, stubs, executor, server,
orchestrator) speaks only these types and `BaseToolSource`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Literal, TypeAlias, TypedDict

__all__ = [
    "AudioContent",
    "BaseToolSource",
    "CallOptions",
    "Content",
    "ImageContent",
    "JsonObject",
    "JsonValue",
    "ProgressFn",
    "ResourceContent",
    "ResourceLinkContent",
    "TextContent",
    "ToolAnnotations",
    "ToolRef",
    "ToolResult",
    "ToolSourceWrapper",
    "ToolSpec",
]

JsonValue: TypeAlias = "None | bool | int | float | str | list[JsonValue] | dict[str, JsonValue]"
JsonObject: TypeAlias = "dict[str, JsonValue]"


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolAnnotations:
    """Behaviour hints a server gives for a tool (MCP `ToolAnnotations`); hints, not guarantees."""

    title: str | None = None
    read_only: bool | None = None
    destructive: bool | None = None
    idempotent: bool | None = None
    open_world: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolRef:
    """Which tool: the configured server key and the tool's original (unsanitized) name."""

    server: str
    name: str

    def __str__(self) -> str:
        return f"{self.server}/{self.name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolSpec:
    """One tool of one upstream server, as discovered."""

    server: str
    """The server's key in the configuration (not sanitized)."""
    name: str
    """The tool's original name, used for the real call."""
    title: str | None = None
    description: str | None = None
    input_schema: JsonObject = field(default_factory=lambda: {"type": "object"})
    output_schema: JsonObject | None = None
    annotations: ToolAnnotations = field(default_factory=ToolAnnotations)

    @property
    def ref(self) -> ToolRef:
        """The reference used to call this tool."""
        return ToolRef(server=self.server, name=self.name)


@dataclass(frozen=True, slots=True, kw_only=True)
class TextContent:
    """A text block."""

    type: Literal["text"] = "text"
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageContent:
    """An image, base64 data."""

    type: Literal["image"] = "image"
    data: str
    mime_type: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioContent:
    """Audio, base64 data."""

    type: Literal["audio"] = "audio"
    data: str
    mime_type: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceLinkContent:
    """A link to a resource the server can read."""

    type: Literal["resource_link"] = "resource_link"
    uri: str
    name: str | None = None
    mime_type: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceContent:
    """An embedded resource: text or base64 blob."""

    type: Literal["resource"] = "resource"
    uri: str
    mime_type: str | None = None
    text: str | None = None
    blob: str | None = None


Content: TypeAlias = TextContent | ImageContent | AudioContent | ResourceLinkContent | ResourceContent


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolResult:
    """The outcome of one tool call, converted from the SDK's `CallToolResult`."""

    content: tuple[Content, ...] = ()
    structured: JsonValue = None
    has_structured: bool = False
    """Whether the server sent `structuredContent` (which may legitimately be JSON null)."""
    is_error: bool = False


ProgressFn: TypeAlias = Callable[[float, float | None, str | None], Awaitable[None]]
"""Progress from an upstream tool: (progress, total, message)."""


class CallOptions(TypedDict, total=False):
    """Per-call options a caller may pass to `BaseToolSource.call_tool`."""

    timeout_s: float
    """Overrides the server's configured call timeout."""
    meta: Mapping[str, JsonValue]
    """Extra request `_meta` (for example W3C `traceparent`)."""
    progress: ProgressFn
    suspend: Callable[[], AbstractAsyncContextManager[None]]
    """Wrap any wait on a human (an approval question) in this: the caller's clocks (the execution
    deadline, this call's timeout) stop meanwhile, so the time a user takes to answer is not charged
    to the model's code."""


class BaseToolSource(ABC):
    """A source of tools: list them, call one. Wrappers (filters, approval) implement it too."""

    @abstractmethod
    async def list_tools(self) -> Sequence[ToolSpec]:
        """The tools currently available, from the cached catalog."""

    async def find_tool(self, ref: ToolRef) -> ToolSpec | None:
        """The current spec of one tool, or None when it is not listed.

        This default scans `list_tools`; sources that index their tools (the fleet) override it,
        because wrappers look a tool up on every call.
        """
        for spec in await self.list_tools():
            if spec.server == ref.server and spec.name == ref.name:
                return spec
        return None

    @abstractmethod
    async def call_tool(
        self, ref: ToolRef, arguments: Mapping[str, JsonValue], *, options: CallOptions | None = None
    ) -> ToolResult:
        """Call one tool.

        A tool's own failure comes back as `ToolResult(is_error=True)`. Failures of the server
        itself raise `UpstreamError` subclasses.
        """


class ToolSourceWrapper(BaseToolSource):
    """A source that wraps another (filters, approval, tracing).

    Each method forwards to `inner` unless the wrapper overrides it.
    """

    def __init__(self, inner: BaseToolSource) -> None:
        self._inner = inner

    async def list_tools(self) -> Sequence[ToolSpec]:
        """The wrapped source's tools."""
        return await self._inner.list_tools()

    async def find_tool(self, ref: ToolRef) -> ToolSpec | None:
        """The wrapped source's lookup."""
        return await self._inner.find_tool(ref)

    async def call_tool(
        self, ref: ToolRef, arguments: Mapping[str, JsonValue], *, options: CallOptions | None = None
    ) -> ToolResult:
        """The wrapped source's call."""
        return await self._inner.call_tool(ref, arguments, options=options)
