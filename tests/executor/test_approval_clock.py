"""Time a user spends answering an approval question is not charged to the model's code."""

from __future__ import annotations

from collections.abc import Mapping

import anyio
import pytest

from gateway.config import ExecutionLimits
from gateway.policy import ApprovalPolicy, ApprovalToolSource
from gateway.sandbox import BaseSandboxBackend
from gateway.tools import BaseToolSource, JsonValue, ToolRef, ToolSpec
from tests.executor._fleet import fake_source, run

pytestmark = pytest.mark.anyio

HUMAN_S = 2.5
LIMITS = ExecutionLimits(execution_timeout_s=1.5, tool_call_timeout_s=1.0)


async def _slow_yes(_ref: ToolRef, _spec: ToolSpec, _arguments: Mapping[str, JsonValue]) -> bool:
    await anyio.sleep(HUMAN_S)  # the user reads the question, then approves
    return True


def _asking(source: BaseToolSource) -> ApprovalToolSource:
    return ApprovalToolSource(source, policy=ApprovalPolicy(tools={"calc/echo": "ask"}), ask=_slow_yes)


async def test_a_slow_approval_does_not_time_out_the_call_or_the_execution(
    sandbox_backend: BaseSandboxBackend,
) -> None:
    source = fake_source()
    code = "a, b = await asyncio.gather(calc.echo(text='approved'), calc.add(a=1, b=2))\nprint(a, b['sum'])"
    result = await run(sandbox_backend, code, source=_asking(source), limits=LIMITS)
    assert result.error is None, result.error
    assert result.stdout.strip() == "approved 3"
    assert result.duration_s > HUMAN_S  # the wall clock did pass; only the deadlines stood still


async def test_the_clocks_run_again_after_the_answer(sandbox_backend: BaseSandboxBackend) -> None:
    source = fake_source()
    code = "await calc.echo(text='approved')\nwhile True:\n    pass"
    result = await run(sandbox_backend, code, source=_asking(source), limits=LIMITS)
    assert result.error is not None and result.error.kind == "timeout"
    assert "1 tool call had completed" in result.error.message
