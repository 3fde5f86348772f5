"""Issue 14, item 4: a pending approval freezes the sandbox, and a hard cap bounds the whole execution.

Before, the deadline stood still while the user was asked but the code kept running: with a 5 s
timeout a CPU-burning program ran 23 s. Now the container is paused (cgroup freezer) while any
question is open, and `max_approval_wait_s` caps the time spent waiting on top of the timeout.
"""

from __future__ import annotations

from collections.abc import Mapping

import anyio
import anyio.to_thread
import pytest

from gateway.config import ExecutionLimits
from gateway.policy import ApprovalPolicy, ApprovalToolSource
from gateway.sandbox import DockerSandboxBackend
from gateway.sandbox._engine import connect_engine
from gateway.tools import JsonValue, ToolRef, ToolSpec
from tests.executor._fleet import fake_source
from tests.security._support import RUNTIMES, docker_backend, last_json, require_runtime, run_checked

pytestmark = [pytest.mark.anyio, pytest.mark.docker]

HUMAN_S = 4.0
LIMITS = ExecutionLimits(execution_timeout_s=2.0, tool_call_timeout_s=2.0)

BURN = """
import json, threading, time
def burn():
    while True:
        pass
threading.Thread(target=burn, daemon=True).start()
cpu_before = time.process_time()
answer = await calc.echo(text="may I?")
cpu_during = time.process_time() - cpu_before
print(json.dumps({"answer": answer, "cpu_during_question_s": cpu_during}))
"""


def _paused(backend: DockerSandboxBackend) -> list[bool]:
    api = connect_engine(None)
    try:
        return [bool(api.inspect_container(cid)["State"]["Paused"]) for cid in backend.owned_containers]
    finally:
        api.close()


@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_the_sandbox_is_frozen_while_a_question_is_open(runtime: str) -> None:
    seen: list[list[bool]] = []
    async with docker_backend(runtime=require_runtime(runtime)) as backend:

        async def slow_yes(_ref: ToolRef, _spec: ToolSpec, _arguments: Mapping[str, JsonValue]) -> bool:
            seen.append(await anyio.to_thread.run_sync(_paused, backend))
            await anyio.sleep(HUMAN_S)  # the user reads the question, then approves
            return True

        source = ApprovalToolSource(fake_source(), policy=ApprovalPolicy(tools={"calc/echo": "ask"}), ask=slow_yes)
        result = await run_checked(backend, BURN, source=source, limits=LIMITS)
    found = last_json(result)  # finished, although the question took twice the timeout
    assert found["answer"] == "may I?"
    assert seen == [[True]]  # the engine reported the one container paused while the user was asked
    # Frozen, the burning thread got (almost) no CPU during the question; running, it would get ~HUMAN_S.
    assert found["cpu_during_question_s"] < HUMAN_S / 4, found


async def test_the_hard_cap_ends_an_execution_whose_question_is_never_answered() -> None:
    never = anyio.Event()

    async def no_answer(_ref: ToolRef, _spec: ToolSpec, _arguments: Mapping[str, JsonValue]) -> bool:
        await never.wait()
        return True

    limits = LIMITS.model_copy(update={"max_approval_wait_s": 1.0})
    source = ApprovalToolSource(fake_source(), policy=ApprovalPolicy(tools={"calc/echo": "ask"}), ask=no_answer)
    async with docker_backend() as backend:
        result = await run_checked(backend, BURN, source=source, limits=limits, timeout_s=30)
    assert result.error is not None and result.error.kind == "timeout", result.error
    assert "waiting for approval" in result.error.message
    assert "max_approval_wait_s 1" in result.error.message
