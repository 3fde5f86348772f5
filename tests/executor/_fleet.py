"""A tiny fleet for executor tests: a `BaseToolSource` test double, its catalog and hand-written stubs."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import anyio

from bridge.protocol import NamespaceSpec
from gateway.catalog import Catalog, build_catalog
from gateway.config import ExecutionLimits, GatewaySettings, StubSettings
from gateway.errors import ServerUnavailableError
from gateway.executor import ExecutionHooks, ExecutionResult, Executor
from gateway.sandbox import BaseSandboxBackend
from gateway.stubs import Toolbox, build_toolbox
from gateway.tools import (
    BaseToolSource,
    CallOptions,
    ImageContent,
    JsonObject,
    JsonValue,
    ResourceContent,
    TextContent,
    ToolRef,
    ToolResult,
    ToolSpec,
)

_OBJECT: JsonObject = {"type": "object"}

SPECS = [
    ToolSpec(
        server="calc", name="add", input_schema={**_OBJECT, "properties": {"a": {}, "b": {}}, "required": ["a", "b"]}
    ),
    ToolSpec(server="calc", name="echo", input_schema={**_OBJECT, "properties": {"text": {}}, "required": ["text"]}),
    ToolSpec(
        server="calc", name="fail", input_schema={**_OBJECT, "properties": {"message": {}}, "required": ["message"]}
    ),
    ToolSpec(server="calc", name="down", input_schema=_OBJECT),
    ToolSpec(
        server="calc", name="sleep", input_schema={**_OBJECT, "properties": {"seconds": {}}, "required": ["seconds"]}
    ),
    ToolSpec(server="calc", name="big", input_schema={**_OBJECT, "properties": {"size": {}}, "required": ["size"]}),
    ToolSpec(server="calc", name="picture", input_schema=_OBJECT),
    ToolSpec(
        server="files",
        name="read-file",
        input_schema={**_OBJECT, "properties": {"path": {}, "max-lines": {}}, "required": ["path"]},
    ),
]

STUBS = '''\
"""Tools of the test fleet."""
from __future__ import annotations

from typing import Any


class calc:
    """A calculator."""

    @staticmethod
    async def add(a: int, b: int) -> dict[str, int]:
        """Add two numbers; returns {"sum": a + b} as structured content."""
        ...

    @staticmethod
    async def big(size: int) -> str:
        """A text of `size` characters."""
        ...

    @staticmethod
    async def down() -> None:
        """Always fails: its server is unavailable."""
        ...

    @staticmethod
    async def echo(text: str) -> Any:
        """Echo `text` back as a single text block."""
        ...

    @staticmethod
    async def fail(message: str) -> None:
        """Always reports a tool error with `message`."""
        ...

    @staticmethod
    async def picture() -> list[Any]:
        """An image and an embedded resource."""
        ...

    @staticmethod
    async def sleep(seconds: float) -> str:
        """Sleep, then say so."""
        ...


class files:
    """Files."""

    @staticmethod
    async def read_file(path: str, max_lines: int | None = None) -> str:
        """Read a file.

        Args:
            path: which file
            max_lines: at most this many lines
        """
        ...
'''


class FakeSource(BaseToolSource):
    """The test double of the tool-source seam: answers from code, records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[ToolRef, dict[str, JsonValue]]] = []
        self.running = 0
        self.max_running = 0

    async def list_tools(self) -> Sequence[ToolSpec]:
        return SPECS

    async def call_tool(
        self, ref: ToolRef, arguments: Mapping[str, JsonValue], *, options: CallOptions | None = None
    ) -> ToolResult:
        self.calls.append((ref, dict(arguments)))
        match ref.name:
            case "add":
                a, b = arguments["a"], arguments["b"]
                assert isinstance(a, int) and isinstance(b, int)
                return ToolResult(structured={"sum": a + b}, has_structured=True)
            case "echo":
                return ToolResult(content=(TextContent(text=str(arguments["text"])),))
            case "fail":
                return ToolResult(content=(TextContent(text=str(arguments["message"])),), is_error=True)
            case "down":
                raise ServerUnavailableError("server 'calc' is not reachable", server="calc")
            case "sleep":
                seconds = arguments["seconds"]
                assert isinstance(seconds, int | float)
                self.running += 1
                self.max_running = max(self.max_running, self.running)
                try:
                    await anyio.sleep(seconds)
                finally:
                    self.running -= 1
                return ToolResult(content=(TextContent(text="slept"),))
            case "big":
                size = arguments["size"]
                assert isinstance(size, int)
                return ToolResult(content=(TextContent(text="x" * size),))
            case "picture":
                return ToolResult(
                    content=(
                        ImageContent(data="aGVsbG8=", mime_type="image/png"),
                        ResourceContent(uri="file:///a.txt", mime_type="text/plain", text="hello"),
                    )
                )
            case "read-file":
                return ToolResult(content=(TextContent(text=f"read {arguments}"),))
            case _:
                raise AssertionError(ref)


def catalog() -> Catalog:
    return build_catalog(SPECS)


def namespaces(cat: Catalog) -> list[NamespaceSpec]:
    return [
        {
            "name": ns.python_name,
            "doc": ns.server,
            "tools": [{"name": t.python_name, "id": t.id, "params": dict(t.params)} for t in ns.tools],
        }
        for ns in cat.namespaces
    ]


def toolbox(*, specs: Sequence[ToolSpec] = SPECS, stubs: str | None = STUBS, helpers: bool = False) -> Toolbox:
    """A toolbox of `specs`; `stubs` replaces the rendered module (None keeps it); `helpers`: compact prompt."""
    built = build_toolbox(specs, settings=GatewaySettings(stubs=StubSettings(mode="compact" if helpers else "full")))
    if stubs is None:
        return built
    return dataclasses.replace(built, stubs=stubs, namespaces=namespaces(built.catalog))


async def run(
    backend: BaseSandboxBackend,
    code: str,
    *,
    source: BaseToolSource | None = None,
    limits: ExecutionLimits | None = None,
    helpers: bool = False,
    hooks: ExecutionHooks | None = None,
    timeout_s: float = 60.0,
) -> ExecutionResult:
    """Execute `code` against the test fleet, with a cap on the whole test step."""
    executor = Executor(backend=backend, source=source or FakeSource(), limits=limits or ExecutionLimits())
    with anyio.fail_after(timeout_s):
        return await executor.execute(code, toolbox=toolbox(helpers=helpers), hooks=hooks)
