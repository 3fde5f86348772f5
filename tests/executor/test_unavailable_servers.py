"""A configured server that is not up keeps its namespace: calls raise a catchable ToolError, never NameError."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import pytest

from gateway.app import open_gateway
from gateway.config import GatewaySettings, SandboxSettings, StdioServerConfig
from gateway.sandbox import LocalProcessBackend

pytestmark = pytest.mark.anyio

SERVER = Path(__file__).resolve().parents[2] / "examples" / "expenses_server.py"

CODE = """
import asyncio
try:
    await broken.get_anything(x=1)
except ToolError as e:
    print("caught:", e)
departments, missing = await asyncio.gather(
    expenses.list_departments(), broken.other(), return_exceptions=True
)
print(type(missing).__name__, len(departments["result"]) > 0)
"""


async def test_code_calling_a_failed_server_gets_a_catchable_tool_error() -> None:
    settings = GatewaySettings(
        servers={
            "expenses": StdioServerConfig(command=sys.executable, args=[str(SERVER)]),
            "broken": StdioServerConfig(command="sh", args=["-c", "echo 'cannot start' >&2; exit 3"]),
        },
        sandbox=SandboxSettings(backend="local-process"),
    )
    async with LocalProcessBackend(settings.limits) as backend, open_gateway(settings, backend=backend) as gateway:
        with anyio.fail_after(60):
            await gateway.fleet.wait_ready()
            assert gateway.fleet.status()["broken"].state == "failed"
            result = await gateway.execute(CODE)
    assert result.ok, result.error
    assert "caught: broken.get_anything: the MCP server 'broken' is unavailable right now" in result.stdout
    assert result.stdout.endswith("ToolError True\n")


async def test_a_namespace_of_a_failed_server_never_shadows_a_live_one() -> None:
    # Two server keys that sanitize to the same Python name: the live one keeps it.
    settings = GatewaySettings(
        servers={
            "exp-enses": StdioServerConfig(command="sh", args=["-c", "exit 3"]),
            "exp_enses": StdioServerConfig(command=sys.executable, args=[str(SERVER)]),
        },
        sandbox=SandboxSettings(backend="local-process"),
    )
    async with LocalProcessBackend(settings.limits) as backend, open_gateway(settings, backend=backend) as gateway:
        with anyio.fail_after(60):
            await gateway.fleet.wait_ready()
            result = await gateway.execute(
                "print(len((await exp_enses.list_departments())['result']) > 0)\n"
                "try:\n    await exp_enses_2.x()\nexcept ToolError as e:\n    print('down:', e)\n"
            )
    assert result.ok, result.error
    assert result.stdout.startswith("True\ndown: exp_enses_2.x: the MCP server 'exp-enses' is unavailable")
