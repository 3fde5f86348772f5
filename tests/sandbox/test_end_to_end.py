"""The whole path with nothing faked: real Docker sandbox, two real stdio MCP servers, `Gateway.execute`.

Issue 3's first test bullet: `asyncio.gather` across two servers, a server's tool error becoming
`ToolError` inside the code, and a final traceback that points at the right line of the model's code.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from gateway.app import Gateway, open_gateway
from gateway.config import GatewaySettings, StdioServerConfig
from tests.sandbox._docker import docker_settings
from tests.servers import everything_server, require_installed

pytestmark = pytest.mark.anyio

EXPENSES = Path(__file__).resolve().parents[2] / "examples" / "expenses_server.py"

CODE = '''\
departments, echoed = await asyncio.gather(
    expenses.list_departments(),
    everything.echo(message="hi from the sandbox"),
)
print("engineering" in str(departments), echoed)
try:
    await expenses.get_team_members(department="no such department")
except ToolError as e:
    print("caught:", e)
text = """a multi-line string
keeps its lines"""
members = await expenses.get_team_members(department="engineering")
print(len(members) > 0)
budget = {"total": 5000}
print(budget["travel"])
'''
TRACEBACK_LINE = 15


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    require_installed()
    settings = GatewaySettings(
        servers={
            "expenses": StdioServerConfig(command=sys.executable, args=[str(EXPENSES)]),
            "everything": everything_server(),
        },
        sandbox=docker_settings(pool_size=1),
    )
    async with open_gateway(settings) as opened:
        with anyio.fail_after(60):
            await opened.fleet.wait_ready()
        yield opened


async def test_gather_across_two_servers_tool_error_and_traceback_line(gateway: Gateway) -> None:
    with anyio.fail_after(60):
        result = await gateway.execute(CODE)

    lines = result.stdout.splitlines()
    assert lines[0] == "True Echo: hi from the sandbox"
    assert lines[1].startswith("caught: ") and "unknown department" in lines[1]
    assert lines[2] == "True"
    assert result.tool_calls == 4

    assert result.error is not None
    assert result.error.kind == "code"
    assert result.error.type == "KeyError"
    traceback = result.error.traceback or ""
    assert f'File "<code>", line {TRACEBACK_LINE}' in traceback
    assert 'print(budget["travel"])' in traceback
    assert "bridge" not in traceback and "runner" not in traceback  # the runner's own frames are hidden
