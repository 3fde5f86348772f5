"""A tiny MCP server on the Python SDK 2.x whose own spans must join the gateway's trace.

The SDK's `OpenTelemetryMiddleware` opens a SERVER span per request under the `traceparent`
found in the request `_meta`. This server installs a tracer provider so those spans are kept:
written one JSON object per line to the file named by `PTC_TEST_SPAN_FILE` (the in-memory test),
and/or exported to whatever the standard `OTEL_*` variables name (the Phoenix test).

    python tests/telemetry/sdk_server.py          # stdio
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from gateway.telemetry import setup_telemetry

SPAN_FILE_ENV = "PTC_TEST_SPAN_FILE"


class JsonLinesSpanExporter(SpanExporter):
    """Appends each finished span as one JSON line (ids in hex, as the W3C header writes them)."""

    def __init__(self, path: str) -> None:
        self._path = path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with open(self._path, "a", encoding="utf-8") as f:
            for span in spans:
                context = span.get_span_context()
                assert context is not None
                f.write(
                    json.dumps(
                        {
                            "name": span.name,
                            "kind": span.kind.name,
                            "trace_id": f"{context.trace_id:032x}",
                            "span_id": f"{context.span_id:016x}",
                            "parent_id": f"{span.parent.span_id:016x}" if span.parent else None,
                            "attributes": dict(span.attributes or {}),
                        }
                    )
                    + "\n"
                )
        return SpanExportResult.SUCCESS


def create_server() -> MCPServer:
    server = MCPServer(name="inventory", version="1.0.0")

    @server.tool()
    async def lookup(sku: str) -> dict[str, object]:
        """Look an item up by SKU."""
        await anyio.sleep(0.05)  # long enough for parallel calls to overlap
        return {"sku": sku, "stock": len(sku) * 7}

    @server.tool()
    def discontinued(sku: str) -> str:
        """Always fails: the item is discontinued."""
        raise ToolError(f"{sku} is discontinued")

    return server


def main() -> None:
    path = os.environ.get(SPAN_FILE_ENV)
    processors = [SimpleSpanProcessor(JsonLinesSpanExporter(path))] if path else []
    telemetry = setup_telemetry(service_name="inventory-sdk-server", span_processors=processors)
    try:
        create_server().run()
    finally:
        telemetry.shutdown()


if __name__ == "__main__":
    main()
