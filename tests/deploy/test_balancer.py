"""Gateway replicas (containers of the gateway image) behind HAProxy on 127.0.0.1, with deploy/haproxy.cfg.

Who ran an execution is read from the engine's event stream: every sandbox container carries the id
of the gateway container that started it (replicas run with no warm pool, so each execution starts
exactly one sandbox, on the replica that serves the request).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

from tests._support import require
from tests.deploy._gateway import (
    ROOT,
    GatewayContainer,
    docker,
    free_port,
    gateway_image,
    mcp_client,
    remove_run_leftovers,
    sandboxes_of,
    start_gateway,
    structured,
    wait_serving,
)
from tests.server.conftest import ListChanged, ready_description

pytestmark = [pytest.mark.anyio, pytest.mark.docker]

CODE = "print(len((await expenses.list_departments())['result']))"
SLOW_CODE = "await asyncio.sleep(25)\nprint('never')"


class SandboxStarts:
    """The gateway container behind every sandbox container the engine starts, as `docker events` reports them."""

    def __init__(self) -> None:
        self.owners: list[str] = []
        self._changed = anyio.Event()

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        command = ["docker", "events", "--filter", "type=container", "--filter", "event=start"]
        command += [
            "--filter",
            "label=ptc-gateway.container",
            "--format",
            '{{index .Actor.Attributes "ptc-gateway.container"}}',
        ]
        async with await anyio.open_process(command, stderr=subprocess.DEVNULL) as events:
            assert events.stdout is not None
            task_status.started()
            buffer = b""
            try:
                async for chunk in events.stdout:
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    self.owners.extend(line.decode().strip() for line in lines if line.strip())
                    self._changed.set()
                    self._changed = anyio.Event()
            finally:
                events.kill()

    async def next_owner(self, seen: int) -> str:
        """The owner of the first start after `seen` starts."""
        while len(self.owners) <= seen:
            await self._changed.wait()
        return self.owners[seen]


@asynccontextmanager
async def haproxy(replicas: list[GatewayContainer]) -> AsyncIterator[str]:
    """HAProxy with the shipped config in front of `replicas`; yields the MCP URL through it."""
    binary = shutil.which("haproxy")
    require(binary is not None, "haproxy", "scripts/install-deploy-tools")
    assert binary is not None
    port = free_port()
    env = {**os.environ, "PTC_LB_BIND": f"127.0.0.1:{port}"}
    env.update({f"PTC_LB_REPLICA_{i}": f"127.0.0.1:{replica.port}" for i, replica in enumerate(replicas, 1)})
    async with await anyio.open_process(
        [binary, "-f", str(ROOT / "deploy" / "haproxy.cfg"), "-db"], env=env, stdout=subprocess.DEVNULL
    ) as process:
        try:
            with anyio.fail_after(30):
                while True:  # until it accepts connections (it prints nothing when ready)
                    try:
                        await (await anyio.connect_tcp("127.0.0.1", port)).aclose()
                        break
                    except OSError:
                        assert process.returncode is None, "haproxy exited"
                        await anyio.sleep(0.05)
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            process.terminate()
            with anyio.CancelScope(shield=True):
                await process.wait()


async def _replica(port: int | None = None) -> GatewayContainer:
    # Port: a replacement takes the killed replica's place behind the balancer.
    gateway = await anyio.to_thread.run_sync(functools.partial(start_gateway, port=port or free_port(), pool_size=0))
    await wait_serving(gateway)
    # Behind the balancer every request may land on any replica: wait until this one's fleet is up.
    changes = ListChanged()
    async with mcp_client(gateway.url, mode="legacy", changes=changes) as client:
        assert "async def list_departments" in await ready_description(client, changes)
    return gateway


async def _run(starts: SandboxStarts, url: str, mode: str, count: int) -> list[str]:
    """`count` executions by one client of the era `mode`; returns the replica behind each."""
    owners: list[str] = []
    changes = ListChanged()
    async with mcp_client(url, mode=mode, changes=changes) as client:
        assert "async def list_departments" in await ready_description(client, changes)
        assert [tool.name for tool in (await client.list_tools()).tools] == ["execute_code"]
        for _ in range(count):
            seen = len(starts.owners)
            result = await client.call_tool("execute_code", {"code": CODE})
            assert structured(result)["stdout"] == "5\n", result.content
            owners.append(await starts.next_owner(seen))
    return owners


async def test_replicas_behind_haproxy_both_eras_and_a_replica_killed_mid_run() -> None:
    gateway_image()
    starts = SandboxStarts()
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(starts.run)
            with anyio.fail_after(300):
                first, second = await _replica(), await _replica()
                async with haproxy([first, second]) as url:
                    # 2026-07-28: no session, nothing to stick to; round-robin spreads the executions.
                    modern = await _run(starts, url, "auto", 4)
                    assert set(modern) == {first.id, second.id}, modern
                    # 2025-11-25: every request of the session reaches the replica that holds it.
                    legacy = await _run(starts, url, "legacy", 4)
                    assert len(set(legacy)) == 1 and legacy[0] in {first.id, second.id}, legacy

                    # A replica dies while it runs an execution. The SDK client's session ends with the
                    # transport error (the SDK does not fail just the one request); the client connects
                    # again and its next call lands on the other replica.
                    outcome: list[str] = []
                    seen = len(starts.owners)
                    try:
                        async with mcp_client(url, mode="auto") as client, anyio.create_task_group() as calls:

                            async def doomed() -> None:
                                result = await client.call_tool("execute_code", {"code": SLOW_CODE})
                                outcome.append(f"returned {'an error' if result.is_error else 'a result'}")

                            calls.start_soon(doomed)
                            victim = await starts.next_owner(seen)
                            await anyio.to_thread.run_sync(functools.partial(docker, "kill", victim))
                    except Exception as e:  # noqa: BLE001 - the transport's failure is what this step expects
                        outcome.append(f"session ended: {e!r}")
                    assert outcome and outcome[0] != "returned a result", outcome
                    survivor = second if victim == first.id else first
                    seen = len(starts.owners)
                    async with mcp_client(url, mode="auto") as client:
                        result = await client.call_tool("execute_code", {"code": CODE})
                    assert structured(result)["stdout"] == "5\n", result.content
                    assert await starts.next_owner(seen) == survivor.id

                    # The killed replica's sandbox does not outlive it: its runner exits when the gateway's end
                    # of stdio closes and the engine removes it (AutoRemove); whatever is still there when the
                    # replacement starts, the replacement reaps.
                    killed = first if victim == first.id else second
                    replacement = await _replica(port=killed.port)
                    with anyio.fail_after(30):
                        while sandboxes_of(victim):  # noqa: ASYNC110 - the engine's state, polled
                            await anyio.sleep(0.2)
                    assert sandboxes_of(replacement.id) == []  # no warm pool: nothing of its own yet
                    for replica in (survivor, replacement):
                        await anyio.to_thread.run_sync(functools.partial(docker, "stop", "-t", "30", replica.id))
                        assert sandboxes_of(replica.id) == []
            tg.cancel_scope.cancel()
    finally:
        remove_run_leftovers()
