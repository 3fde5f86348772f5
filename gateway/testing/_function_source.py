"""`FunctionToolSource`: the tool-source seam played by plain async functions, recording every call."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar, cast

from pydantic import JsonValue as PydanticJsonValue
from pydantic import TypeAdapter

from gateway.errors import UnknownToolError
from gateway.tools import (
    AudioContent,
    BaseToolSource,
    CallOptions,
    Content,
    ImageContent,
    JsonObject,
    JsonValue,
    ResourceContent,
    ResourceLinkContent,
    TextContent,
    ToolAnnotations,
    ToolRef,
    ToolResult,
    ToolSpec,
)

__all__ = ["CallHandler", "FunctionToolSource", "RecordedCall", "ToolFunction", "to_tool_result"]

ToolFunction: TypeAlias = Callable[..., Awaitable[Any]]
"""An async function whose keyword arguments are the tool's arguments."""
_F = TypeVar("_F", bound=ToolFunction)
_CONTENT_TYPES = (TextContent, ImageContent, AudioContent, ResourceLinkContent, ResourceContent)
_JSON: TypeAdapter[PydanticJsonValue] = TypeAdapter(PydanticJsonValue)


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedCall:
    """One call the source received, in arrival order."""

    ref: ToolRef
    arguments: Mapping[str, JsonValue]
    options: CallOptions | None


CallHandler: TypeAlias = Callable[[RecordedCall], Awaitable[Any]]
"""Answers every call that no registered function answers (like httpx's `MockTransport(handler)`)."""


class FunctionToolSource(BaseToolSource):
    """Tools backed by plain async functions: a test double of an MCP fleet that ships with the product.

    Register functions with `add` or the `tool` decorator; each becomes a `ToolSpec` whose input schema
    is derived from the function's signature (pydantic) and whose description is its docstring, unless
    given. Specs passed to the constructor are listed as they are and answered by `handler`. A function
    (or the handler) may return a `ToolResult` (passed through), a `str` (one text block), a sequence of
    content records, or any other JSON value (structured content); raising a `GatewayError` subclass
    (e.g. `ServerUnavailableError`) behaves as a failing upstream does.

    Every call is recorded in `calls`; `in_flight` / `max_in_flight` count concurrent calls::

        source = FunctionToolSource()

        @source.tool("calc")
        async def add(a: int, b: int) -> int:
            return a + b
    """

    def __init__(self, specs: Iterable[ToolSpec] = (), *, handler: CallHandler | None = None) -> None:
        self._specs: dict[ToolRef, ToolSpec] = {spec.ref: spec for spec in specs}
        self._functions: dict[ToolRef, ToolFunction] = {}
        self.handler = handler
        self.calls: list[RecordedCall] = []
        self.in_flight = 0
        self.max_in_flight = 0

    def add(
        self,
        function: ToolFunction,
        *,
        server: str,
        name: str | None = None,
        description: str | None = None,
        input_schema: JsonObject | None = None,
        annotations: ToolAnnotations | None = None,
    ) -> ToolSpec:
        """Register `function` as tool `name` (default: its `__name__`) of `server`; returns its spec."""
        if not inspect.iscoroutinefunction(function):
            raise TypeError(f"{function!r} is not an async function")
        spec = ToolSpec(
            server=server,
            name=name or function.__name__,
            description=description if description is not None else inspect.getdoc(function),
            input_schema=input_schema if input_schema is not None else _input_schema(function),
            annotations=annotations or ToolAnnotations(),
        )
        self._specs[spec.ref] = spec
        self._functions[spec.ref] = function
        return spec

    def tool(
        self,
        server: str,
        *,
        name: str | None = None,
        description: str | None = None,
        annotations: ToolAnnotations | None = None,
    ) -> Callable[[_F], _F]:
        """Decorator form of `add`."""

        def register(function: _F) -> _F:
            self.add(function, server=server, name=name, description=description, annotations=annotations)
            return function

        return register

    def relist(self, specs: Iterable[ToolSpec]) -> None:
        """Replace the listed specs, as a server re-listing its tools does; tools no longer listed stop answering."""
        self._specs = {spec.ref: spec for spec in specs}
        self._functions = {ref: function for ref, function in self._functions.items() if ref in self._specs}

    def calls_to(self, ref: ToolRef) -> list[Mapping[str, JsonValue]]:
        """The arguments of every call to `ref`, in order."""
        return [call.arguments for call in self.calls if call.ref == ref]

    async def list_tools(self) -> Sequence[ToolSpec]:
        """The registered tools."""
        return list(self._specs.values())

    async def call_tool(
        self, ref: ToolRef, arguments: Mapping[str, JsonValue], *, options: CallOptions | None = None
    ) -> ToolResult:
        """Record the call, then answer it with the tool's function or the handler."""
        call = RecordedCall(ref=ref, arguments=dict(arguments), options=options)
        self.calls.append(call)
        function = self._functions.get(ref)
        if function is None and (self.handler is None or ref not in self._specs):
            raise UnknownToolError(f"no tool {ref.name!r} on server {ref.server!r}", server=ref.server)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if function is not None:
                value = await function(**arguments)
            else:
                assert self.handler is not None
                value = await self.handler(call)
        finally:
            self.in_flight -= 1
        return to_tool_result(value)


def to_tool_result(value: object) -> ToolResult:
    """What a tool function returned, as a `ToolResult`."""
    if isinstance(value, ToolResult):
        return value
    if isinstance(value, str):
        return ToolResult(content=(TextContent(text=value),))
    if isinstance(value, list | tuple):
        blocks = cast(Sequence[object], value)
        if blocks and all(isinstance(block, _CONTENT_TYPES) for block in blocks):
            return ToolResult(content=tuple(cast(Sequence[Content], blocks)))
    return ToolResult(structured=cast(JsonValue, _JSON.validate_python(value)), has_structured=True)


def _input_schema(function: ToolFunction) -> JsonObject:
    # pydantic derives the arguments schema of a callable (its parameters, defaults and annotations).
    adapter: TypeAdapter[Any] = TypeAdapter(cast(Any, function))
    return cast(JsonObject, adapter.json_schema())
