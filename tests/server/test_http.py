"""Streamable HTTP: the SDK client in both eras, /healthz, the bearer token, DNS-rebinding protection."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.context import ClientRequestContext
from mcp.client.streamable_http import streamable_http_client

from tests.server._expected import PARALLEL_CODE, expected_parallel
from tests.server.conftest import ListChanged, http_gateway, ready_description, serve_args

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "probe", "version": "1"}},
}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_sdk_client_over_http(mode: str, servers_file: Path, gateway_env: dict[str, str]) -> None:
    changes = ListChanged()
    with anyio.fail_after(90):
        async with (
            http_gateway(serve_args(servers_file), gateway_env) as (url, _),
            Client(url, mode=mode, message_handler=changes) as client,
        ):
            assert client.protocol_version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
            assert [tool.name for tool in (await client.list_tools()).tools] == ["execute_code"]
            # Modern: tools_list_changed on a subscriptions/listen stream; legacy: the GET stream.
            description = await ready_description(client, changes)
            assert "class expenses" in description or "expenses." in description
            result = await client.call_tool("execute_code", {"code": PARALLEL_CODE})
            assert not result.is_error, result.content
            assert result.structured_content is not None
            assert json.loads(result.structured_content["stdout"]) == expected_parallel()


@pytest.mark.anyio
async def test_health_token_and_rebinding_protection(servers_file: Path, gateway_env: dict[str, str]) -> None:
    env = {**gateway_env, "PTC_AUTH_TOKEN": "s3cret-token"}
    with anyio.fail_after(60):
        async with http_gateway(serve_args(servers_file), env) as (url, _):
            base = f"{urlsplit(url).scheme}://{urlsplit(url).netloc}"
            async with httpx2.AsyncClient() as http:
                health = await http.get(f"{base}/healthz")
                assert health.status_code == 200
                assert health.json()["status"] == "ok"

                refused = await http.post(url, json=INITIALIZE, headers=HEADERS)
                assert refused.status_code == 401
                assert refused.headers["www-authenticate"].startswith("Bearer")
                wrong = await http.post(url, json=INITIALIZE, headers={**HEADERS, "Authorization": "Bearer nope"})
                assert wrong.status_code == 401

                authorized = {**HEADERS, "Authorization": "Bearer s3cret-token"}
                rebound = await http.post(url, json=INITIALIZE, headers={**authorized, "Host": "evil.example:80"})
                assert rebound.status_code == 421
                cross_site = await http.post(
                    url, json=INITIALIZE, headers={**authorized, "Origin": "http://evil.example"}
                )
                assert cross_site.status_code == 403

            async with (
                httpx2.AsyncClient(headers={"Authorization": "Bearer s3cret-token"}) as authed,
                Client(streamable_http_client(url, http_client=authed)) as client,
            ):
                assert [tool.name for tool in (await client.list_tools()).tools] == ["execute_code"]


@pytest.mark.anyio
async def test_stateless_http_serves_both_eras(servers_file: Path, gateway_env: dict[str, str]) -> None:
    env = {**gateway_env, "PTC_SERVE__STATELESS": "true"}
    code = "print(len((await expenses.list_departments())['result']))"
    with anyio.fail_after(90):
        async with http_gateway(serve_args(servers_file), env) as (url, _):
            async with httpx2.AsyncClient() as http:
                opened = await http.post(url, json=INITIALIZE, headers=HEADERS)
                assert opened.status_code == 200
                assert "mcp-session-id" not in opened.headers  # nothing ties a client to this replica
            # The modern client waits for the fleet on a listen stream; a stateless handshake client
            # has no standalone channel to be told on, so it comes second, when the fleet is up.
            for mode in ("auto", "legacy"):
                changes = ListChanged()
                async with Client(url, mode=mode, message_handler=changes) as client:
                    assert "Still starting" not in await ready_description(client, changes)
                    result = await client.call_tool("execute_code", {"code": code})
                    assert result.structured_content is not None
                    assert result.structured_content["stdout"] == "5\n", result.content


@pytest.mark.anyio
@pytest.mark.parametrize(("action", "expected"), [("accept", "deleted x-1\n"), ("decline", "refused\n")])
async def test_elicitation_approval_over_http(
    action: str, expected: str, servers_file: Path, gateway_env: dict[str, str]
) -> None:
    # The question rides the tools/call request's own SSE stream (handshake era, with a session).
    asked: list[str] = []

    async def approver(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return (
            types.ElicitResult(action="accept", content={"approve": True})
            if action == "accept"
            else (types.ElicitResult(action="decline"))
        )

    code = (
        "try:\n    print((await testbox.delete_item(item_id='x-1'))['result'])\nexcept ToolError:\n    print('refused')"
    )
    changes = ListChanged()
    with anyio.fail_after(90):
        async with (
            http_gateway(serve_args(servers_file), gateway_env) as (url, _),
            Client(url, mode="legacy", message_handler=changes, elicitation_callback=approver) as client,
        ):
            await ready_description(client, changes)
            result = await client.call_tool("execute_code", {"code": code})
            assert result.structured_content is not None, result.content
            assert result.structured_content["stdout"] == expected, result.structured_content
    assert len(asked) == 1 and "testbox/delete_item" in asked[0]
