"""The catalog in other shapes: JSON for `tools --format json`, the runner's job, the JSON size."""

from __future__ import annotations

import json

from bridge.protocol import NamespaceSpec, ToolEntry
from gateway.catalog import Catalog, CatalogTool
from gateway.tools import JsonObject, JsonValue

__all__ = ["catalog_json", "json_definition_bytes", "job_namespaces"]


def catalog_json(catalog: Catalog) -> list[JsonObject]:
    """One object per tool, in catalog order: names, schemas and annotations."""
    return [_tool_json(tool) for tool in catalog.tools]


def _tool_json(tool: CatalogTool) -> JsonObject:
    spec = tool.spec
    annotations = spec.annotations
    return {
        "server": spec.server,
        "namespace": tool.namespace,
        "name": spec.name,
        "python_name": tool.python_name,
        "id": tool.id,
        "title": spec.title,
        "description": spec.description,
        "params": dict[str, JsonValue](tool.params),
        "input_schema": spec.input_schema,
        "output_schema": spec.output_schema,
        "annotations": {
            "title": annotations.title,
            "read_only": annotations.read_only,
            "destructive": annotations.destructive,
            "idempotent": annotations.idempotent,
            "open_world": annotations.open_world,
        },
    }


def json_definition_bytes(catalog: Catalog, *, input_only: bool = False) -> int:
    """UTF-8 bytes of the fleet's tool definitions as an MCP `tools/list` carries them (compact JSON).

    Per tool: `name`, `title`, `description`, `inputSchema`, `outputSchema` and `annotations`
    (when present): what a model is shown without the gateway, and the yardstick for the stubs,
    which render all of it. `input_only` counts `name`, `description` and `inputSchema` only.
    """
    return sum(
        len(json.dumps(_definition(tool, input_only=input_only), ensure_ascii=False, separators=(",", ":")).encode())
        for tool in catalog.tools
    )


def _definition(tool: CatalogTool, *, input_only: bool) -> JsonObject:
    spec = tool.spec
    definition: JsonObject = {"name": spec.name}
    if spec.title is not None and not input_only:
        definition["title"] = spec.title
    if spec.description is not None:
        definition["description"] = spec.description
    definition["inputSchema"] = spec.input_schema
    if input_only:
        return definition
    if spec.output_schema is not None:
        definition["outputSchema"] = spec.output_schema
    hints: JsonObject = {}
    a = spec.annotations
    for key, value in (
        ("title", a.title),
        ("readOnlyHint", a.read_only),
        ("destructiveHint", a.destructive),
        ("idempotentHint", a.idempotent),
        ("openWorldHint", a.open_world),
    ):
        if value is not None:
            hints[key] = value
    if hints:
        definition["annotations"] = hints
    return definition


def job_namespaces(catalog: Catalog) -> list[NamespaceSpec]:
    """The namespaces of the runner's job: Python names, wire ids, parameter name maps."""
    return [
        NamespaceSpec(
            name=ns.python_name,
            doc=(ns.description or "").strip() or f"Tools of the MCP server {ns.server!r}.",
            tools=[ToolEntry(name=t.python_name, id=t.id, params=dict(t.params)) for t in ns.tools],
        )
        for ns in catalog.namespaces
    ]
