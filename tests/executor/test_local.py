"""The local-process backend itself: cleanup of the whole process group, also on cancellation."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import anyio
import pytest

from gateway.config import ExecutionLimits
from gateway.testing import FunctionToolSource, LocalProcessBackend, RecordedCall
from tests.executor._fleet import SPECS, run

pytestmark = pytest.mark.anyio


async def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for a reaper counts as dead)."""
    try:
        status = await anyio.Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


async def _gone(pid: int, *, within_s: float = 10.0) -> bool:
    """Whether `pid` ends within `within_s`: a SIGKILLed process group dies at once, but on a loaded
    machine the kernel may not have run the child's exit by the time the executor returns."""
    with anyio.move_on_after(within_s):
        while await _alive(pid):  # noqa: ASYNC110 - /proc has no event to wait on
            await anyio.sleep(0.02)
        return True
    return False


async def test_cancellation_kills_the_runner_and_its_children(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    code = f"""
import os, subprocess
child = subprocess.Popen(["sleep", "600"])
with open({str(pids)!r}, "w", encoding="utf-8") as f:
    f.write(f"{{os.getpid()}} {{child.pid}}\\n")
await calc.sleep(seconds=600)
"""
    backend = LocalProcessBackend()
    called = anyio.Event()

    async def block_forever(call: RecordedCall) -> str:
        called.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    source = FunctionToolSource(SPECS, handler=block_forever)
    try:
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(partial(run, backend, code, source=source))
                await called.wait()
                tg.cancel_scope.cancel()
        runner, child = (int(pid) for pid in (await anyio.Path(pids).read_text(encoding="utf-8")).split())
        assert await _gone(runner)
        assert await _gone(child)
        assert not backend._live  # pyright: ignore[reportPrivateUsage]
    finally:
        await backend.aclose()


async def test_timeout_kills_background_children(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    code = f"""
import os, subprocess
child = subprocess.Popen(["sleep", "600"], start_new_session=False)
with open({str(pids)!r}, "w", encoding="utf-8") as f:
    f.write(f"{{child.pid}}\\n")
while True:
    pass
"""
    backend = LocalProcessBackend()
    try:
        result = await run(backend, code, limits=ExecutionLimits(execution_timeout_s=2))
        assert result.error is not None and result.error.kind == "timeout"
        assert await _gone(int(await anyio.Path(pids).read_text(encoding="utf-8")))
    finally:
        await backend.aclose()


async def test_runner_gets_an_empty_environment_and_a_temp_cwd() -> None:
    backend = LocalProcessBackend()
    try:
        result = await run(backend, "import os\nprint(dict(os.environ))\nprint(os.getcwd())")
    finally:
        await backend.aclose()
    assert result.ok, result.error
    env, cwd = result.stdout.splitlines()
    assert env in ("{}", "{'LC_CTYPE': 'C.UTF-8'}")  # CPython may coerce the C locale
    assert os.path.basename(cwd).startswith("ptc-local-")
    assert not await anyio.Path(cwd).exists()
