"""The exact text the model sees: the rules preamble, then the stubs (or a compact index)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.catalog import Catalog
from gateway.config import ExecutionLimits, StubSettings
from gateway.stubs._export import json_definition_bytes
from gateway.stubs._module import RenderedStubs, render_stubs
from gateway.stubs._text import first_sentence

__all__ = ["RenderedPrompt", "render_preamble", "render_prompt"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderedPrompt:
    """The prompt text and the measurements behind the full/compact choice."""

    text: str
    compact: bool
    """True when the stubs were over budget and the prompt shows a one-line-per-tool index."""
    stub_bytes: int
    """UTF-8 bytes of the full stubs (the module without its import header)."""
    json_bytes: int
    """UTF-8 bytes of the same fleet's JSON tool definitions (`json_definition_bytes`)."""

    @property
    def ratio(self) -> float:
        """Full stub bytes / JSON definition bytes (the goal is <= 0.6); 0 for an empty fleet."""
        return self.stub_bytes / self.json_bytes if self.json_bytes else 0.0


def render_preamble(*, limits: ExecutionLimits, tool_name: str = "execute_code", compact: bool = False) -> str:
    """The rules of the sandbox, as the model reads them before the stubs.

    Shared by the MCP server (the tool's description) and the Bedrock orchestrator (the system
    prompt), so that every entry point states the same contract.
    """
    lines = [
        f"Use `{tool_name}` to run Python code that calls the tools below. Do the work in code: loop, filter,",
        "join and aggregate tool results there, and print only what you need to see.",
        "",
        "Rules:",
        f"- Each `{tool_name}` call runs in a fresh, stateless Python environment: variables, imports and files",
        "  do not survive between calls. Put everything one step needs in one block of code.",
        "- Each server is a global namespace object and each of its tools an async function on it. Call",
        "  tools with `await` (top-level `await` works): `result = await server.tool(arg=value)`.",
        "  Keyword arguments always work; optional arguments left out (or `None`) use the server's default.",
        "- Only what you print comes back to you (stdout, and stderr on errors); tool results you do not",
        "  print are never shown. Print compact summaries, not whole payloads.",
        "- Run independent calls concurrently: `a, b = await asyncio.gather(x.f(...), y.g(...))`",
        "  (`asyncio` is already imported).",
        f"- Limits per call: {_seconds(limits.execution_timeout_s)} of wall-clock time, at most"
        f" {limits.max_tool_calls} tool calls, {_size(limits.max_output_bytes)} of output per stream.",
        "- What a tool returns: its structured result when the server sends one (see the return type);",
        "  otherwise a single text result, parsed with `json.loads` when it is valid JSON, else as a `str`;",
        "  anything else (images, audio, resources, several blocks) as a `list` of content objects with the",
        '  attributes `type` ("text", "image", "audio", "resource" or "resource_link"), `text`, `data`',
        "  (base64), `mime_type`, `uri`, `name` and `description` (`None` when absent).",
        "- A tool that fails raises `ToolError` with the server's message; catch it with",
        "  `except ToolError as e:` when you can carry on without that result.",
    ]
    if compact:
        lines += [
            "- The tools are listed below as an index (one line per tool). Before calling a tool, read its full",
            "  stub (types, arguments, docs): `help(server.tool)` prints one stub, and",
            '  `for stub in await search_tools("words"): print(stub)` prints the stubs of matching tools.',
        ]
    return "\n".join(lines) + "\n"


def render_prompt(
    catalog: Catalog, *, settings: StubSettings, limits: ExecutionLimits, tool_name: str = "execute_code"
) -> RenderedPrompt:
    """The preamble, then the full stubs, or a compact index when they are over budget."""
    stubs = render_stubs(catalog)
    body = stubs.body
    stub_bytes = len(body.encode("utf-8"))
    match settings.mode:
        case "full":
            compact = False
        case "compact":
            compact = True
        case "auto":
            compact = stub_bytes > settings.budget_bytes
    preamble = render_preamble(limits=limits, tool_name=tool_name, compact=compact)
    if not catalog.namespaces:
        listing = "No tools are available right now.\n"
    elif compact:
        listing = f"The tools ({len(catalog.tools)}), one line per tool:\n\n```python\n{render_index(stubs)}```\n"
    else:
        listing = f"The tools, as Python stubs:\n\n```python\n{body}```\n"
    return RenderedPrompt(
        text=f"{preamble}\n{listing}",
        compact=compact,
        stub_bytes=stub_bytes,
        json_bytes=json_definition_bytes(catalog),
    )


def render_index(stubs: RenderedStubs) -> str:
    """One line per tool, grouped by namespace: `await ns.tool(req, opt=...)  # first sentence`."""
    lines: list[str] = []
    for namespace in stubs.namespaces:
        ns = namespace.namespace
        about = first_sentence(ns.description) or f"MCP server {ns.server!r}"
        if lines:
            lines.append("")
        lines.append(f"# {ns.python_name}: {about}")
        for tool in namespace.tools:
            summary = first_sentence(tool.tool.spec.description or tool.tool.spec.title)
            call = f"await {ns.python_name}.{tool.signature}"
            lines.append(f"{call}  # {summary}" if summary else call)
    return "\n".join(lines) + "\n"


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _size(value: int) -> str:
    if value % 1024 == 0:
        return f"{value // 1024} KiB"
    return f"{value} bytes"
