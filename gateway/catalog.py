"""The catalog: every tool of the fleet under its deterministic Python name.

This is the fixed calling convention inside the sandbox: each server is a namespace object (a
global named after the sanitized server key) and each tool an async function on it. The naming
rules live here and nowhere else; the stub renderer, the runner job and the executor all read
names from a `Catalog`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from gateway.tools import ToolSpec

__all__ = ["Catalog", "CatalogNamespace", "CatalogTool", "build_catalog"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogTool:
    """One tool under its Python name."""

    spec: ToolSpec
    python_name: str
    params: Mapping[str, str]
    """Python parameter name -> original argument name, in signature order."""

    @property
    def id(self) -> str:
        """Stable id used on the wire: `namespace.tool` (unique within a catalog)."""
        raise NotImplementedError  # filled in by the catalog implementation


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogNamespace:
    """One server as a namespace object."""

    server: str
    python_name: str
    tools: tuple[CatalogTool, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Catalog:
    """All namespaces, sorted deterministically."""

    namespaces: tuple[CatalogNamespace, ...] = ()
    _by_id: Mapping[str, CatalogTool] = field(default_factory=dict[str, CatalogTool], repr=False)

    def tool(self, tool_id: str) -> CatalogTool | None:
        """Look a tool up by its wire id."""
        return self._by_id.get(tool_id)


def build_catalog(specs: Iterable[ToolSpec]) -> Catalog:
    """Name every tool deterministically, whatever order the servers answered in."""
    raise NotImplementedError
