"""A body over the HTTP limit is a JSON-RPC error SDK clients can read (issue 14, item 13)."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client, MCPError
from mcp_types import INVALID_REQUEST

from tests.server.conftest import http_gateway, serve_args

pytestmark = pytest.mark.anyio

LIMIT_BYTES = 4 * 1024 * 1024
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


async def test_a_413_is_a_json_rpc_error(tmp_path: Path, gateway_env: dict[str, str]) -> None:
    servers = tmp_path / "servers.json"
    servers.write_text('{"mcpServers": {}}', encoding="utf-8")
    big_code = "x = 1\n" * (LIMIT_BYTES // 6 + 1000)
    with anyio.fail_after(90):
        async with http_gateway(serve_args(servers), gateway_env) as (url, _):
            request = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "execute_code"}}
            request["params"] = {"name": "execute_code", "arguments": {"code": big_code}}
            async with httpx2.AsyncClient() as http:
                response = await http.post(url, content=json.dumps(request), headers=HEADERS)
            assert response.status_code == 413
            assert response.headers["content-type"] == "application/json"
            body = response.json()
            assert body["jsonrpc"] == "2.0" and body["error"]["code"] == INVALID_REQUEST
            assert f"at most {LIMIT_BYTES} bytes" in body["error"]["message"]

            # The SDK client surfaces it as the request's error, message and all.
            async with Client(url) as client:
                with pytest.raises(
                    MCPError, match=f"Request body too large: this server accepts at most {LIMIT_BYTES}"
                ):
                    await client.call_tool("execute_code", {"code": big_code})
                assert [tool.name for tool in (await client.list_tools()).tools] == ["execute_code"]
