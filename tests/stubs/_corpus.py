"""Load the committed schema corpus (MCP tools/list JSON) as `ToolSpec`s."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gateway.catalog import Catalog, build_catalog
from gateway.tools import ToolAnnotations, ToolSpec
from gateway.upstream import describe_server

SCHEMAS = Path(__file__).resolve().parents[1] / "fixtures" / "schemas"
REAL_SERVERS = ("everything", "filesystem", "git", "memory", "time")


def _annotations(raw: dict[str, Any] | None) -> ToolAnnotations:
    raw = raw or {}
    return ToolAnnotations(
        title=raw.get("title"),
        read_only=raw.get("readOnlyHint"),
        destructive=raw.get("destructiveHint"),
        idempotent=raw.get("idempotentHint"),
        open_world=raw.get("openWorldHint"),
    )


def load_file(path: Path) -> list[ToolSpec]:
    data = json.loads(path.read_text(encoding="utf-8"))
    server = data["server"]
    return [
        ToolSpec(
            server=server,
            name=tool["name"],
            title=tool.get("title"),
            description=tool.get("description"),
            input_schema=tool.get("inputSchema", {"type": "object"}),
            output_schema=tool.get("outputSchema"),
            annotations=_annotations(tool.get("annotations")),
        )
        for tool in data["tools"]
    ]


def real_specs() -> list[ToolSpec]:
    return [spec for name in REAL_SERVERS for spec in load_file(SCHEMAS / "real" / f"{name}.json")]


def edge_specs() -> list[ToolSpec]:
    return [spec for path in sorted((SCHEMAS / "edge").glob("*.json")) for spec in load_file(path)]


def real_descriptions() -> dict[str, str]:
    """Server key -> namespace description (title and `instructions`), as the fleet derives it."""
    descriptions: dict[str, str] = {}
    for name in REAL_SERVERS:
        data = json.loads((SCHEMAS / "real" / f"{name}.json").read_text(encoding="utf-8"))
        description = describe_server(title=data.get("title"), instructions=data.get("instructions"))
        if description is not None:
            descriptions[data["server"]] = description
    return descriptions


def real_catalog() -> Catalog:
    """The five real servers' catalog, with their descriptions: what `ptc-gateway tools` builds."""
    return build_catalog(real_specs(), descriptions=real_descriptions())
