"""Issue 14, item 5: per-uid kernel quotas are not shared between executions.

Every container used to run as uid 65532, so one execution holding its uid's POSIX message queue
quota (RLIMIT_MSGQUEUE; queues are created by opening files in the writable `/dev/mqueue`) made
another fail with EMFILE. Each sandbox now runs as its own uid from `[sandbox] uid_range`.
"""

from __future__ import annotations

from collections.abc import Mapping

import anyio
import pytest
from pydantic import ValidationError

from gateway.config import SandboxSettings
from gateway.errors import SandboxUnavailableError
from gateway.sandbox._uids import UidPool
from gateway.tools import CallOptions, JsonValue, ToolRef, ToolResult, ToolSourceWrapper
from tests.executor._fleet import fake_source
from tests.security._support import docker_backend, last_json, run_checked

pytestmark = pytest.mark.anyio

HOLD_QUEUES = """
import json, os
held, error = [], None
while len(held) < 1000:
    try:
        held.append(os.open(f"/dev/mqueue/q{len(held)}", os.O_CREAT | os.O_RDWR, 0o600))
    except OSError as e:
        error = e.strerror
        break
await calc.echo(text="holding")  # the host runs the other execution now
print(json.dumps({"held": len(held), "error": error, "uid": os.getuid()}))
"""

ONE_QUEUE = """
import json, os
try:
    os.open("/dev/mqueue/mine", os.O_CREAT | os.O_RDWR, 0o600)
    outcome = "ok"
except OSError as e:
    outcome = e.strerror
print(json.dumps({"outcome": outcome, "uid": os.getuid()}))
"""


class _Pause(ToolSourceWrapper):
    """`calc.echo` says the code got there, then waits until the test lets it go on."""

    def __init__(self) -> None:
        super().__init__(fake_source())
        self.reached = anyio.Event()
        self.release = anyio.Event()

    async def call_tool(
        self, ref: ToolRef, arguments: Mapping[str, JsonValue], *, options: CallOptions | None = None
    ) -> ToolResult:
        self.reached.set()
        await self.release.wait()
        return await super().call_tool(ref, arguments, options=options)


async def _while_one_holds_its_quota(**settings: object) -> tuple[dict[str, object], dict[str, object]]:
    """Execution A fills its uid's message-queue quota and holds it while execution B opens one queue."""
    pause = _Pause()
    found: dict[str, dict[str, object]] = {}
    async with docker_backend(**settings) as backend:

        async def holder() -> None:
            found["a"] = last_json(await run_checked(backend, HOLD_QUEUES, source=pause))

        async with anyio.create_task_group() as tg:
            tg.start_soon(holder)
            with anyio.fail_after(60):
                await pause.reached.wait()
            try:
                found["b"] = last_json(await run_checked(backend, ONE_QUEUE))
            finally:
                pause.release.set()
    return found["a"], found["b"]


@pytest.mark.docker
async def test_one_execution_holding_its_uid_quota_does_not_starve_another() -> None:
    a, b = await _while_one_holds_its_quota()
    assert a["error"] == "Too many open files" and 0 < int(str(a["held"])) < 1000, a  # the quota was full
    assert b["outcome"] == "ok", b
    assert a["uid"] != b["uid"]


@pytest.mark.docker
async def test_with_one_shared_uid_the_quota_is_shared() -> None:
    # The control: what item 5 was about. Without uid_range the second execution is starved.
    a, b = await _while_one_holds_its_quota(uid_range=None)
    assert a["uid"] == b["uid"] == 65532
    assert b["outcome"] == "Too many open files", b


def test_uid_pool_never_hands_out_a_live_uid() -> None:
    pool = UidPool(5000, 5009)
    taken = [pool.allocate() for _ in range(10)]
    assert sorted(taken) == list(range(5000, 5010))
    with pytest.raises(SandboxUnavailableError, match="uid_range"):
        pool.allocate()
    pool.release(5003)
    assert pool.allocate() == 5003
    assert pool.in_use == frozenset(range(5000, 5010))


@pytest.mark.docker
async def test_backend_releases_uids_when_sandboxes_close() -> None:
    async with docker_backend(uid_range=(300_000, 300_001)) as backend:
        first, second = await backend.acquire(), await backend.acquire()
        try:
            assert len(backend.live_uids) == 2
            with pytest.raises(SandboxUnavailableError, match="uid_range"):
                await backend.acquire()
        finally:
            await first.aclose()
            with anyio.fail_after(30):
                await backend.settle()  # a uid is freed once its container is removed (in the background)
        assert len(backend.live_uids) == 1
        third = await backend.acquire()  # the freed uid is handed out again
        await second.aclose()
        await third.aclose()
        with anyio.fail_after(30):
            await backend.settle()
        assert backend.live_uids == frozenset()


def test_uid_range_setting() -> None:
    assert SandboxSettings().uid_range == (200_000, 299_999)
    assert SandboxSettings.model_validate({"uid_range": []}).uid_range is None  # TOML's way to turn it off
    with pytest.raises(ValidationError, match="never root"):
        SandboxSettings.model_validate({"uid_range": [0, 10]})


@pytest.mark.docker
async def test_a_uid_another_gateway_runs_is_never_handed_out() -> None:
    # Two backends (as two gateways on one engine) share a two-uid range: the second takes the free one.
    async with (
        docker_backend(uid_range=(300_010, 300_011)) as other,
        docker_backend(uid_range=(300_010, 300_011)) as ours,
    ):
        held = await other.acquire()
        try:
            for _ in range(3):  # the random pick would hit the other's uid half the time
                sandbox = await ours.acquire()
                try:
                    assert ours.live_uids.isdisjoint(other.live_uids)
                    with pytest.raises(SandboxUnavailableError, match="other gateways"):
                        await ours.acquire()
                finally:
                    await sandbox.aclose()
                    with anyio.fail_after(30):
                        await ours.settle()  # its uid is free again once the container is removed
        finally:
            await held.aclose()
