"""The real MCP SDK client over stdio, spawning `ptc-gateway serve`, in both protocol eras."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp_types import TextContent

from gateway.server import INPUT_SCHEMA, OUTPUT_SCHEMA
from tests.server._expected import PARALLEL_CODE, expected_parallel
from tests.server.conftest import ListChanged, ready_description, serve_args


def _params(servers_file: Path, env: dict[str, str], sandbox: str = "local-process") -> StdioServerParameters:
    command, *args = serve_args(servers_file, sandbox=sandbox)
    return StdioServerParameters(command=command, args=args, env=env)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_one_tool_and_parallel_calls_to_two_servers(
    mode: str, servers_file: Path, gateway_env: dict[str, str]
) -> None:
    changes = ListChanged()
    with anyio.fail_after(90):
        async with Client(_params(servers_file, gateway_env), mode=mode, message_handler=changes) as client:
            assert client.protocol_version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
            tools = (await client.list_tools()).tools
            assert [tool.name for tool in tools] == ["execute_code"]
            tool = tools[0]
            assert tool.input_schema == INPUT_SCHEMA
            assert tool.output_schema == OUTPUT_SCHEMA
            assert tool.annotations is not None
            assert tool.annotations.read_only_hint is False
            assert tool.annotations.destructive_hint is True
            assert tool.annotations.open_world_hint is True

            description = await ready_description(client, changes)
            # The rules first, then the stubs.
            assert "runs in a fresh, stateless Python environment" in description
            assert "asyncio.gather" in description
            assert "Limits per call: 30 s of wall-clock time" in description
            assert "async def get_team_members" in description
            assert "async def list_offices" in description

            result = await client.call_tool("execute_code", {"code": PARALLEL_CODE})
            assert not result.is_error, result.content
            structured = result.structured_content
            assert structured is not None
            assert structured["error"] is None
            assert structured["tool_calls"] == 4
            assert json.loads(structured["stdout"]) == expected_parallel()
            text = result.content[0]
            assert text.type == "text" and "[4 tool calls in" in text.text


@pytest.mark.anyio
async def test_code_errors_come_back_as_tool_errors(servers_file: Path, gateway_env: dict[str, str]) -> None:
    with anyio.fail_after(60):
        async with Client(_params(servers_file, gateway_env)) as client:
            result = await client.call_tool("execute_code", {"code": "print('before')\n1 / 0"})
            assert result.is_error
            structured = result.structured_content
            assert structured is not None
            assert structured["stdout"] == "before\n"
            assert structured["error"]["kind"] == "code"
            assert structured["error"]["type"] == "ZeroDivisionError"
            text = result.content[0]
            assert isinstance(text, TextContent) and "ZeroDivisionError" in text.text

            missing = await client.call_tool("execute_code", {})
            assert missing.is_error


@pytest.mark.anyio
async def test_tool_name_is_configurable(servers_file: Path, gateway_env: dict[str, str]) -> None:
    command, *args = serve_args(servers_file, "--tool-name", "run_python")
    with anyio.fail_after(60):
        async with Client(StdioServerParameters(command=command, args=args, env=gateway_env)) as client:
            tools = (await client.list_tools()).tools
            assert [tool.name for tool in tools] == ["run_python"]
            assert "Each `run_python` call runs in a fresh" in (tools[0].description or "")
            result = await client.call_tool("run_python", {"code": "print(6 * 7)"})
            assert result.structured_content is not None and result.structured_content["stdout"] == "42\n"


@pytest.mark.anyio
async def test_end_to_end_over_stdio_with_docker(docker: None, servers_file: Path, gateway_env: dict[str, str]) -> None:
    changes = ListChanged()
    with anyio.fail_after(120):
        params = _params(servers_file, gateway_env, sandbox="docker")
        async with Client(params, mode="legacy", message_handler=changes) as client:
            await ready_description(client, changes)
            result = await client.call_tool("execute_code", {"code": PARALLEL_CODE})
            assert not result.is_error, result.content
            assert result.structured_content is not None
            assert json.loads(result.structured_content["stdout"]) == expected_parallel()


@pytest.mark.anyio
async def test_answers_at_once_while_a_server_is_still_starting(tmp_path: Path, gateway_env: dict[str, str]) -> None:
    upstream = Path(__file__).with_name("upstream_server.py")
    late = {"command": "sh", "args": ["-c", f'sleep 5; exec "{sys.executable}" "{upstream}"']}
    servers = tmp_path / "late.json"
    broken = {"command": "sh", "args": ["-c", "sleep 1; echo 'no such thing' >&2; exit 3"]}
    servers.write_text(json.dumps({"mcpServers": {"late": late, "broken": broken}}), encoding="utf-8")
    changes = ListChanged()
    env = {**gateway_env, "PTC_SERVE__STARTUP_GRACE_S": "0"}  # no startup grace: the first list answers at once
    with anyio.fail_after(60):
        async with Client(_params(servers, env), mode="legacy", message_handler=changes) as client:
            tools = (await client.list_tools()).tools
            assert [tool.name for tool in tools] == ["execute_code"]
            first = tools[0].description or ""
            # `broken` may already have failed under load; `late` sleeps 5 s before it even starts.
            starting = first.split("Still starting (their tools will appear here when ready): ")[1]
            assert "late" in starting.split("\n")[0]
            # The tool works meanwhile (the late server's namespace just is not there yet).
            early = await client.call_tool("execute_code", {"code": "print('ok')"})
            assert early.structured_content is not None and early.structured_content["stdout"] == "ok\n"

            description = await ready_description(client, changes)
            assert changes.count >= 1
            assert "async def whoami" in description
            # A server that never came up changes no catalog, but the description says so.
            assert description.endswith("Unavailable right now (retrying; their tools are not listed): broken.")


@pytest.mark.anyio
async def test_first_list_waits_for_servers_within_the_startup_grace(
    tmp_path: Path, gateway_env: dict[str, str]
) -> None:
    upstream = Path(__file__).with_name("upstream_server.py")
    # `soon` takes a second to start (inside the grace); `never` sleeps far past it.
    soon = {"command": "sh", "args": ["-c", f'sleep 1; exec "{sys.executable}" "{upstream}"']}
    never = {"command": "sh", "args": ["-c", f'sleep 600; exec "{sys.executable}" "{upstream}"']}
    servers = tmp_path / "grace.json"
    servers.write_text(json.dumps({"mcpServers": {"soon": soon, "never": never}}), encoding="utf-8")
    env = {**gateway_env, "PTC_SERVE__STARTUP_GRACE_S": "8"}
    with anyio.fail_after(60):
        async with Client(_params(servers, env), mode="legacy") as client:
            (tool,) = (await client.list_tools()).tools
            description = tool.description or ""
            assert "async def whoami" in description  # the server that started within the grace is listed
            assert "Still starting (their tools will appear here when ready): never." in description
            # The server still starting keeps its namespace: its calls raise a catchable ToolError.
            code = (
                "try:\n    await never.whoami()\nexcept ToolError as e:\n    print('caught:', e)\n"
                "print('soon pid' if (await soon.whoami())['pid'] > 0 else 'no pid')"
            )
            result = await client.call_tool("execute_code", {"code": code})
            assert result.structured_content is not None, result.content
            stdout = result.structured_content["stdout"]
            assert "caught: never.whoami: the MCP server 'never' is still starting" in stdout
            assert stdout.endswith("soon pid\n")


@pytest.mark.anyio
async def test_nothing_but_protocol_on_stdout(servers_file: Path, gateway_env: dict[str, str]) -> None:
    # Debug logging, upstream children and the model's own prints must all miss the wire.
    command = [*serve_args(servers_file)]
    command.insert(1, "-vv")
    messages = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {
                "name": "execute_code",
                "arguments": {"code": "import sys\nprint('hi')\nprint('x', file=sys.stderr)"},
            },
        },
    ]
    with anyio.fail_after(60):
        async with await anyio.open_process(command, env=gateway_env) as process:
            assert process.stdin is not None and process.stdout is not None
            await process.stdin.send(b"".join(json.dumps(m).encode() + b"\n" for m in messages))
            received = b""
            while b'"id":3' not in received.replace(b" ", b""):
                received += await process.stdout.receive()
            await process.stdin.aclose()
            received += b"".join([chunk async for chunk in process.stdout])
    lines = [line for line in received.split(b"\n") if line.strip()]
    parsed = [json.loads(line) for line in lines]  # any stray output would not parse
    assert all(message["jsonrpc"] == "2.0" for message in parsed)
    result = next(message for message in parsed if message.get("id") == 3)["result"]
    assert result["structuredContent"]["stdout"] == "hi\n"
