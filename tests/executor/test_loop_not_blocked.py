"""Nothing on an execution's path blocks the event loop (checked with blockbuster on both backends).

The backend is started before blockbuster is switched on: image checks and the first container
start happen once per gateway, in worker threads or at start-up; what runs per execution and per
tool call must never block the loop that also serves every other client.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from blockbuster import BlockBuster, blockbuster_ctx

from gateway.config import ExecutionLimits
from gateway.sandbox import BaseSandboxBackend
from tests.executor._fleet import run

pytestmark = pytest.mark.anyio

CALLS = """
import asyncio
print(await calc.add(a=1, b=2))
print(sum(r["sum"] for r in await asyncio.gather(*(calc.add(a=i, b=1) for i in range(50)))))
try:
    await calc.fail(message="no")
except ToolError as e:
    print("caught", e)
print("x" * 100_000)
"""


@pytest.fixture
def blockbuster() -> Iterator[BlockBuster]:
    with blockbuster_ctx() as bb:
        yield bb


async def test_an_execution_with_tool_calls(
    sandbox_backend: BaseSandboxBackend, blockbuster: BlockBuster, caplog: pytest.LogCaptureFixture
) -> None:
    result = await run(sandbox_backend, CALLS, limits=ExecutionLimits(max_output_bytes=50_000))
    assert result.ok, result.error
    assert result.stdout.splitlines()[:3] == ["{'sum': 3}", "1275", "caught no"]
    assert result.stdout_truncated
    assert "BlockingError" not in caplog.text


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("import os\nos._exit(3)", "crash"),
        ("raise ValueError('boom')", "code"),
        ("import time\ntime.sleep(30)", "timeout"),
        (
            "import gc, json\nch = next(o for o in gc.get_objects() if type(o).__name__ == 'Channel')\n"
            "ch.write(b'#PTC 1 ' + ch.nonce.encode() + b' 2\\n{}\\n')\nimport time\ntime.sleep(30)",
            "protocol",
        ),
    ],
    ids=["crash", "code-error", "timeout", "protocol-violation"],
)
async def test_failures(
    sandbox_backend: BaseSandboxBackend,
    blockbuster: BlockBuster,
    caplog: pytest.LogCaptureFixture,
    code: str,
    kind: str,
) -> None:
    result = await run(sandbox_backend, code, limits=ExecutionLimits(execution_timeout_s=3))
    assert result.error is not None and result.error.kind == kind, result.error
    assert "BlockingError" not in caplog.text
