"""Used containers are removed off the critical path: soon after the result, bounded, none left on shutdown."""

from __future__ import annotations

import anyio
import pytest

from gateway.config import ExecutionLimits
from gateway.sandbox import DockerSandboxBackend
from gateway.sandbox._removal import Removals
from tests.executor._fleet import run
from tests.sandbox._docker import count_owned_containers, docker_settings

pytestmark = pytest.mark.anyio

LIMITS = ExecutionLimits()


async def test_the_used_container_is_gone_shortly_after_an_execution_returns() -> None:
    async with DockerSandboxBackend(docker_settings(pool_size=0), LIMITS) as backend:
        result = await run(backend, 'print((await calc.add(a=1, b=2))["sum"])')
        assert result.ok and result.stdout == "3\n"
        assert len(backend.owned_containers) == 1  # the used one, still being removed or already gone
        with anyio.fail_after(30):
            await backend.settle()
        assert backend.owned_containers == frozenset()
        assert count_owned_containers(backend.owner) == 0  # the engine agrees
        # The backend keeps working after a background removal.
        assert (await run(backend, "print('again')")).stdout == "again\n"


async def test_shutdown_with_removals_pending_leaves_no_container() -> None:
    backend = DockerSandboxBackend(docker_settings(pool_size=2), LIMITS)
    async with backend:
        results: list[str] = []

        async def one(i: int) -> None:
            results.append((await run(backend, f"print({i})")).stdout)

        async with anyio.create_task_group() as tg:
            for i in range(4):
                tg.start_soon(one, i)
        assert sorted(results) == ["0\n", "1\n", "2\n", "3\n"]
        # Leave at once: the removals of the used containers have not finished.
        assert backend.pending_removals
    assert count_owned_containers(backend.owner) == 0


async def test_removals_are_bounded_and_waited_for() -> None:
    gate = anyio.Event()
    removed: list[str] = []

    async def remove(sandbox_id: str) -> None:
        await gate.wait()
        removed.append(sandbox_id)

    removals = Removals(remove=remove, max_pending=2)
    async with anyio.create_task_group() as tg:
        removals.start(tg)
        await removals.retire("a")
        await removals.retire("b")
        assert removals.pending == {"a", "b"}
        third_handed_over = anyio.Event()

        async def third() -> None:
            await removals.retire("c")  # waits: two removals are pending already
            third_handed_over.set()

        tg.start_soon(third)
        await anyio.wait_all_tasks_blocked()
        assert not third_handed_over.is_set()
        assert removals.pending == {"a", "b"}
        gate.set()
        with anyio.fail_after(5):
            await third_handed_over.wait()
            await removals.drain()
    assert sorted(removed) == ["a", "b", "c"]
    assert removals.pending == frozenset()


async def test_a_failed_removal_does_not_stop_the_others() -> None:
    removed: list[str] = []

    async def remove(sandbox_id: str) -> None:
        if sandbox_id == "bad":
            raise RuntimeError("engine hiccup")
        removed.append(sandbox_id)

    removals = Removals(remove=remove, max_pending=4)
    async with anyio.create_task_group() as tg:
        removals.start(tg)
        await removals.retire("bad")
        await removals.retire("good")
        with anyio.fail_after(5):
            await removals.drain()
    assert removed == ["good"]


async def test_a_container_that_does_not_exit_by_itself_is_killed() -> None:
    # `sum` over a huge range never lets the runner's hang-up watchdog thread run (it holds the GIL),
    # so the runner cannot exit when its stdin closes: the backend must kill the container itself.
    limits = ExecutionLimits(execution_timeout_s=1.0)
    async with DockerSandboxBackend(docker_settings(pool_size=0), limits) as backend:
        result = await run(backend, "sum(range(10**13))", limits=limits)
        assert result.error is not None and result.error.kind == "timeout"
        with anyio.fail_after(30):
            await backend.settle()
        assert count_owned_containers(backend.owner) == 0
