"""The toolbox: everything one execution (and the model's prompt) needs from one version of the catalog."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bridge.protocol import NamespaceSpec
from gateway.catalog import Catalog, build_catalog, missing_namespaces
from gateway.config import GatewaySettings
from gateway.stubs._export import job_namespaces
from gateway.stubs._module import render_module
from gateway.stubs._prompt import RenderedPrompt, render_prompt
from gateway.tools import ToolSpec

__all__ = ["Toolbox", "build_toolbox"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Toolbox:
    """One version of the catalog in every shape its users need; built only by `build_toolbox`.

    The executor sends `stubs`, `namespaces` and `helpers` to the runner and checks calls against
    `catalog`; the model sees `prompt`.
    """

    version: int
    """The fleet's catalog version this was built from (a change of version means rebuild)."""
    catalog: Catalog
    stubs: str
    """The stub module the runner execs."""
    namespaces: list[NamespaceSpec]
    """The job's namespaces: Python names, wire ids, parameter name maps."""
    prompt: RenderedPrompt

    @property
    def helpers(self) -> bool:
        """Install `search_tools` and `help` in the sandbox: the prompt shows a compact index, not every stub."""
        return self.prompt.compact


def build_toolbox(
    tools: Iterable[ToolSpec],
    *,
    settings: GatewaySettings,
    descriptions: Mapping[str, str] | None = None,
    version: int = 0,
    unavailable: Mapping[str, str] | None = None,
) -> Toolbox:
    """Name the tools, render the stub module and the prompt, as `settings` say.

    `unavailable` maps configured servers that are not up (no tools in `tools`) to what the code
    hears when it calls them: each keeps a namespace whose every function raises `ToolError` with
    that text, under a name that never takes a live server's.
    """
    catalog = build_catalog(tools, descriptions=descriptions)
    return Toolbox(
        version=version,
        catalog=catalog,
        stubs=render_module(catalog),
        namespaces=job_namespaces(catalog) + _unavailable_namespaces(catalog, unavailable or {}),
        prompt=render_prompt(
            catalog, settings=settings.stubs, limits=settings.limits, tool_name=settings.serve.tool_name
        ),
    )


def _unavailable_namespaces(catalog: Catalog, reasons: Mapping[str, str]) -> list[NamespaceSpec]:
    return [
        NamespaceSpec(
            name=python_name,
            doc=f"Tools of the MCP server {server!r} (unavailable).",
            tools=[],
            unavailable=reasons[server],
        )
        for server, python_name in missing_namespaces(catalog, reasons).items()
    ]
