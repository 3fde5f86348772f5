"""A tiny fleet for executor tests: `FunctionToolSource` tools, their catalog and hand-written stubs."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import anyio

from bridge.protocol import NamespaceSpec
from gateway.catalog import Catalog, build_catalog
from gateway.config import ExecutionLimits, GatewaySettings, StubSettings
from gateway.errors import ServerUnavailableError
from gateway.executor import ExecutionHooks, ExecutionResult, Executor
from gateway.sandbox import BaseSandboxBackend
from gateway.stubs import Toolbox, build_toolbox
from gateway.testing import FunctionToolSource, ToolFunction
from gateway.tools import (
    BaseToolSource,
    Content,
    ImageContent,
    JsonObject,
    JsonValue,
    ResourceContent,
    TextContent,
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


def fake_source() -> FunctionToolSource:
    """The test fleet of `SPECS`, answered by the functions below; records every call."""
    source = FunctionToolSource()
    functions: dict[str, ToolFunction] = {
        "add": _add,
        "echo": _echo,
        "fail": _fail,
        "down": _down,
        "sleep": _sleep,
        "big": _big,
        "picture": _picture,
        "read-file": _read_file,
    }
    for spec in SPECS:
        source.add(functions[spec.name], server=spec.server, name=spec.name, input_schema=spec.input_schema)
    return source


async def _add(a: int, b: int) -> JsonValue:
    return {"sum": a + b}


async def _echo(text: JsonValue) -> str:
    return str(text)


async def _fail(message: JsonValue) -> ToolResult:
    return ToolResult(content=(TextContent(text=str(message)),), is_error=True)


async def _down() -> str:
    raise ServerUnavailableError("server 'calc' is not reachable", server="calc")


async def _sleep(seconds: float) -> str:
    await anyio.sleep(seconds)
    return "slept"


async def _big(size: int) -> str:
    return "x" * size


async def _picture() -> list[Content]:
    return [
        ImageContent(data="aGVsbG8=", mime_type="image/png"),
        ResourceContent(uri="file:///a.txt", mime_type="text/plain", text="hello"),
    ]


async def _read_file(**arguments: JsonValue) -> str:
    return f"read {arguments}"


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
    executor = Executor(backend=backend, source=source or fake_source(), limits=limits or ExecutionLimits())
    with anyio.fail_after(timeout_s):
        return await executor.execute(code, toolbox=toolbox(helpers=helpers), hooks=hooks)
