"""The executor's detach seam (`execute_detachable` / `resume_detached`) on the AgentCore backend.

A program pauses on a call that waits for somebody outside (here an event); the caller detaches it
from one backend instance (another process, as far as the session knows) and continues it on
another one with the call's result. The `agentcore` fixture checks that no session was left running.
"""

from __future__ import annotations

import json
import math

import anyio
import pytest

from gateway.config import ExecutionLimits, GatewaySettings
from gateway.errors import SandboxUnavailableError
from gateway.executor import DetachControl, ExecutionResult, Executor, Suspended, SuspendedRun, current_call_id
from gateway.sandbox import AgentCoreSandboxBackend
from gateway.stubs import Toolbox, build_toolbox
from gateway.testing import FunctionToolSource
from gateway.tools import TextContent, ToolResult
from tests.agentcore.endpoint import Endpoint
from tests.agentcore.test_backend import backend

pytestmark = pytest.mark.anyio

CODE = """\
print("before", await app.double(x=21))
print("after", await app.ask(question="how many?"))
"""


class Asked:
    """`app.ask` waits for an answer that never comes in this process; `app.double` answers at once."""

    def __init__(self) -> None:
        self.source = FunctionToolSource()
        self.frames: list[int | None] = []
        self.posted = anyio.Event()

        @self.source.tool("app")
        async def double(x: int) -> int:  # pyright: ignore[reportUnusedFunction]
            return 2 * x

        @self.source.tool("app")
        async def ask(question: str) -> str:  # pyright: ignore[reportUnusedFunction]
            self.frames.append(current_call_id())
            self.posted.set()
            await anyio.sleep(math.inf)
            raise AssertionError("unreachable")

    async def toolbox(self) -> Toolbox:
        return build_toolbox(await self.source.list_tools(), settings=GatewaySettings())


def answer(text: str) -> ToolResult:
    return ToolResult(content=(TextContent(text=text),))


async def _detach(asked: Asked, ac: AgentCoreSandboxBackend, toolbox: Toolbox) -> Suspended:
    executor = Executor(backend=ac, source=asked.source, limits=ExecutionLimits(execution_timeout_s=20))
    control = DetachControl(max_state_bytes=64 * 1024)
    outcome: list[ExecutionResult | Suspended] = []

    async def run() -> None:
        outcome.append(await executor.execute_detachable(CODE, toolbox=toolbox, control=control))

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        await asked.posted.wait()
        assert not await control.detach(frozenset({12345}))  # not the calls in flight: declined, still running
        frame = asked.frames[0]
        assert frame is not None
        assert await control.detach(frozenset({frame}))
    suspended = outcome[0]
    assert isinstance(suspended, Suspended)
    return suspended


async def test_an_execution_detached_from_one_backend_finishes_on_another(agentcore: Endpoint) -> None:
    asked = Asked()
    toolbox = await asked.toolbox()
    with anyio.fail_after(120):
        async with backend() as first:
            suspended = await _detach(asked, first, toolbox)
            assert first.live_sessions == frozenset()  # let go, not stopped
        assert len(agentcore.live_sessions()) == 1
        state = SuspendedRun.from_json(suspended.run.to_json())  # what travels between processes
        assert state == suspended.run
        assert (state.calls, state.completed, state.stdout) == (2, 1, "before 42\n")
        assert len(state.pending) == 1
        assert 0 < state.timeout_left_s <= 20
        async with backend() as second:
            executor = Executor(backend=second, source=asked.source, limits=ExecutionLimits())
            sandbox = await second.attach(suspended.handle)
            (frame,) = state.pending
            result = await executor.resume_detached(
                state,
                sandbox=sandbox,
                toolbox=toolbox,
                results={frame: answer("7")},
                control=DetachControl(max_state_bytes=1),
            )
    assert isinstance(result, ExecutionResult)
    assert result.error is None, result.error
    assert result.stdout == "before 42\nafter 7\n"
    assert result.tool_calls == 2
    assert agentcore.count("sessions/start") == agentcore.count("sessions/stop") == 1


async def test_a_resume_with_another_catalog_or_wrong_results_is_refused_and_the_session_stopped(
    agentcore: Endpoint,
) -> None:
    asked = Asked()
    toolbox = await asked.toolbox()
    other = FunctionToolSource()

    @other.tool("app")
    async def ask(question: str) -> str:  # pyright: ignore[reportUnusedFunction]
        return question

    with anyio.fail_after(120):
        async with backend() as first:
            suspended = await _detach(asked, first, toolbox)
        async with backend() as second:
            executor = Executor(backend=second, source=asked.source, limits=ExecutionLimits())
            sandbox = await second.attach(suspended.handle)
            (frame,) = suspended.run.pending
            with pytest.raises(SandboxUnavailableError, match="catalog changed"):
                await executor.resume_detached(
                    suspended.run,
                    sandbox=sandbox,
                    toolbox=build_toolbox(await other.list_tools(), settings=GatewaySettings()),
                    results={frame: answer("7")},
                    control=DetachControl(max_state_bytes=1),
                )
            assert second.live_sessions == frozenset()
    assert agentcore.live_sessions() == []


async def test_a_state_too_large_to_carry_is_not_detached(agentcore: Endpoint) -> None:
    asked = Asked()
    toolbox = await asked.toolbox()
    executor_limits = ExecutionLimits(execution_timeout_s=20)
    with anyio.fail_after(120):
        async with backend() as ac:
            executor = Executor(backend=ac, source=asked.source, limits=executor_limits)
            control = DetachControl(max_state_bytes=100)  # smaller than any state
            async with anyio.create_task_group() as tg:
                outcome: list[ExecutionResult | Suspended] = []

                async def run() -> None:
                    outcome.append(await executor.execute_detachable(CODE, toolbox=toolbox, control=control))

                tg.start_soon(run)
                await asked.posted.wait()
                frame = asked.frames[0]
                assert frame is not None
                assert not await control.detach(frozenset({frame}))
                tg.cancel_scope.cancel()  # the caller gives up: the session is stopped, not leaked
    assert agentcore.live_sessions() == []


def test_a_malformed_state_is_a_clear_error() -> None:
    with pytest.raises(SandboxUnavailableError, match="malformed suspended execution state"):
        SuspendedRun.from_json(json.dumps({"nonce": "x"}))
