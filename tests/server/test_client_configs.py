"""The ready-to-paste client snippets in configs/clients/ start a working gateway once paths are filled in."""

from __future__ import annotations

import json
import os
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests.server.conftest import ROOT

PLACEHOLDER = "/ABSOLUTE/PATH/TO/ptc-gateway"
SNIPPETS = sorted((ROOT / "configs" / "clients").glob("*.json"))


def _stdio_entry(snippet: Path) -> dict[str, object]:
    document = json.loads(snippet.read_text(encoding="utf-8").replace(PLACEHOLDER, str(ROOT)))
    servers = document.get("mcpServers") or document["servers"]
    return servers["ptc-gateway"]


def test_every_client_has_a_snippet() -> None:
    assert [path.name for path in SNIPPETS] == ["claude_desktop.json", "cursor.json", "vscode.json"]


@pytest.mark.anyio
@pytest.mark.parametrize("snippet", SNIPPETS, ids=lambda path: path.stem)
async def test_snippet_starts_the_one_tool_server(snippet: Path, gateway_env: dict[str, str]) -> None:
    entry = _stdio_entry(snippet)
    assert entry.get("type", "stdio") == "stdio"
    command = str(entry["command"])
    args = [str(arg) for arg in entry["args"]]  # type: ignore[union-attr]
    assert os.path.exists(command), command  # noqa: ASYNC240 - a stat in a test
    # Listing tools needs no sandbox: keep the test independent of Docker.
    env = {**gateway_env, "PTC_SANDBOX__BACKEND": "local-process"}
    env.pop("PTC_CONFIG")
    with anyio.fail_after(60):
        async with Client(StdioServerParameters(command=command, args=args, env=env)) as client:
            tools = (await client.list_tools()).tools
            assert [tool.name for tool in tools] == ["execute_code"]
