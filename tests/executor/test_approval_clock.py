"""Time a user spends answering an approval question is not charged to the model's code."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import anyio
import anyio.to_thread
import pytest

from gateway.config import ExecutionLimits
from gateway.policy import ApprovalPolicy, ApprovalToolSource
from gateway.sandbox import BaseSandbox, BaseSandboxBackend, DockerSandbox
from gateway.sandbox._engine import connect_engine
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


class _Remembering(BaseSandboxBackend):
    """Hands out the wrapped backend's sandboxes and remembers the last one."""

    def __init__(self, inner: BaseSandboxBackend) -> None:
        self.name = inner.name
        self._inner = inner
        self.last: BaseSandbox | None = None

    async def acquire(self) -> BaseSandbox:
        self.last = await self._inner.acquire()
        return self.last

    async def aclose(self) -> None:
        pass  # the fixture closes the wrapped backend


def _frozen(sandbox: BaseSandbox) -> bool:
    """Whether the sandbox is stopped: the engine says paused, or the runner process is in state T."""
    if isinstance(sandbox, DockerSandbox):
        api = connect_engine(None)
        try:
            return bool(api.inspect_container(sandbox.container_id)["State"]["Paused"])
        finally:
            api.close()
    status = Path(f"/proc/{sandbox.info.id}/status").read_text(encoding="utf-8")
    return next(line for line in status.splitlines() if line.startswith("State:")).split()[1] == "T"


async def test_the_sandbox_is_frozen_while_a_question_is_open(sandbox_backend: BaseSandboxBackend) -> None:
    backend = _Remembering(sandbox_backend)
    seen: list[bool] = []

    async def look_then_yes(_ref: ToolRef, _spec: ToolSpec, _arguments: Mapping[str, JsonValue]) -> bool:
        sandbox = backend.last
        assert sandbox is not None
        # Docker's pause returns once the cgroup is frozen; SIGSTOP (local) lands a moment later.
        with anyio.move_on_after(5):
            while not await anyio.to_thread.run_sync(_frozen, sandbox):  # noqa: ASYNC110 - no event to wait on
                await anyio.sleep(0.01)
        seen.append(await anyio.to_thread.run_sync(_frozen, sandbox))
        return True

    source = ApprovalToolSource(fake_source(), policy=ApprovalPolicy(tools={"calc/echo": "ask"}), ask=look_then_yes)
    code = "await calc.echo(text='approved')\nprint('thawed')"
    result = await run(backend, code, source=source, limits=LIMITS)
    assert result.error is None, result.error
    assert result.stdout == "thawed\n"  # it ran again after the answer
    assert seen == [True]
