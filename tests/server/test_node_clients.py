"""Third-party clients over HTTP: the MCP Inspector CLI and the MCP conformance suite (npm, Node 20).

Conformance scenarios that apply to a one-tool server (see docs/server.md for the full list and why
the others do not apply): they must all pass, with no failures.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import anyio
import pytest

from tests.server.conftest import NODE_DIR, http_gateway, node_tool, serve_args

CONFORMANCE_SCENARIOS = (
    "server-initialize",
    "ping",
    "tools-list",
    "logging-set-level",
    "server-sse-multiple-streams",
    "dns-rebinding-protection",
)


async def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return await anyio.run_process(command, cwd=cwd, check=False)


@pytest.mark.anyio
async def test_inspector_cli_lists_and_calls(servers_file: Path, gateway_env: dict[str, str]) -> None:
    inspector = str(node_tool("mcp-inspector-cli"))
    # inspector-cli 1.0.3 looks for its package.json relative to the working directory; from
    # node_modules/ the lookup lands on its own package.json.
    cwd = NODE_DIR / "node_modules"
    with anyio.fail_after(120):
        async with http_gateway(serve_args(servers_file), gateway_env) as (url, _):
            base = [inspector, "--cli", url, "--transport", "http"]
            listed = await _run([*base, "--method", "tools/list"], cwd)
            assert listed.returncode == 0, listed.stderr.decode()
            tools = json.loads(listed.stdout)["tools"]
            assert [tool["name"] for tool in tools] == ["execute_code"]

            code = 'print((await expenses.get_custom_budget(user_id="E1002"))["result"]["travel_budget"])'
            called = await _run(
                [*base, "--method", "tools/call", "--tool-name", "execute_code", "--tool-arg", f"code={code}"], cwd
            )
            assert called.returncode == 0, called.stderr.decode()
            result = json.loads(called.stdout)
            assert result["isError"] is False, result
            assert result["structuredContent"]["stdout"] == "8000.0\n"
            assert result["structuredContent"]["tool_calls"] == 1


@pytest.mark.anyio
async def test_conformance_scenarios_that_apply(
    servers_file: Path, gateway_env: dict[str, str], tmp_path: Path
) -> None:
    conformance = str(node_tool("conformance"))
    with anyio.fail_after(300):
        async with http_gateway(serve_args(servers_file), gateway_env) as (url, _):
            failures: list[str] = []
            for scenario in CONFORMANCE_SCENARIOS:
                run = await _run(
                    [conformance, "server", "--url", url, "--scenario", scenario, "-o", str(tmp_path / scenario)],
                    NODE_DIR,
                )
                output = run.stdout.decode(errors="replace")
                if run.returncode != 0 or ", 0 failed, 0 warnings" not in output:
                    failures.append(f"{scenario} (exit {run.returncode}):\n{output[-2000:]}")
            assert not failures, "\n\n".join(failures)
