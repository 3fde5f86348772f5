"""Per-call timeouts from code (issue 14, items 8 and 9).

A server's own `timeout` applies to calls from code; `[limits] tool_call_timeout_s` is only an
optional cap; and every call ends a little before the execution's deadline, so a hanging upstream
is a `ToolError` the code can catch while the healthy results of the same `gather` survive.
"""

from __future__ import annotations

import anyio
import pytest

from gateway.app import open_gateway
from gateway.config import ExecutionLimits, GatewaySettings, SandboxSettings
from gateway.sandbox import BaseSandboxBackend, LocalProcessBackend
from tests.executor._fleet import run
from tests.upstream.conftest import faulty_stdio

pytestmark = pytest.mark.anyio

GATHER = """
results = await asyncio.gather(
    calc.add(a=1, b=2), calc.sleep(seconds=3600), calc.echo(text="fine"), return_exceptions=True
)
for each in results:
    print(type(each).__name__, each)
"""


async def test_a_hanging_call_in_a_gather_is_a_tool_error_before_the_deadline(
    sandbox_backend: BaseSandboxBackend,
) -> None:
    # The default cap is unset and the server's timeout (here: none) is longer than the execution.
    limits = ExecutionLimits(execution_timeout_s=4.0)
    result = await run(sandbox_backend, GATHER, limits=limits)
    assert result.ok, result.error
    lines = result.stdout.splitlines()
    assert lines[0] == "dict {'sum': 3}"
    assert lines[1].startswith("ToolError calc.sleep: no answer before the execution's deadline")
    assert "execution_timeout_s=4 s" in lines[1]
    assert lines[2] == "str fine"
    assert result.tool_calls == 3


async def test_the_default_limits_leave_room_to_catch_a_hang() -> None:
    limits = ExecutionLimits()
    assert limits.tool_call_timeout_s is None or limits.tool_call_timeout_s < limits.execution_timeout_s


async def test_an_explicit_cap_still_applies() -> None:
    limits = ExecutionLimits(execution_timeout_s=30.0, tool_call_timeout_s=0.3)
    code = "try:\n    await calc.sleep(seconds=3600)\nexcept ToolError as e:\n    print(e)"
    result = await run(LocalProcessBackend(), code, limits=limits)
    assert result.ok, result.error
    assert result.stdout == "calc.sleep: no answer within 0.3 s (tool_call_timeout_s)\n"


async def test_a_servers_own_timeout_applies_to_calls_from_code() -> None:
    settings = GatewaySettings(
        servers={"faulty": faulty_stdio(timeout=5.0)},
        sandbox=SandboxSettings(backend="local-process"),
        limits=ExecutionLimits(execution_timeout_s=60.0),
    )
    # Before: the executor passed tool_call_timeout_s (30 s) and it overrode the server's 5 s.
    code = """
try:
    await faulty.hang()
except ToolError as e:
    print("caught:", e)
print(await faulty.echo(text="alive"))
"""
    async with open_gateway(settings, backend=LocalProcessBackend()) as gateway:
        with anyio.fail_after(60):
            await gateway.fleet.wait_ready()
            result = await gateway.execute(code)
    assert result.ok, result.error
    assert result.stdout.splitlines() == [
        "caught: faulty.hang: server 'faulty' did not answer within 5 s (call timeout of 'hang')",
        "{'result': 'alive'}",
    ]
