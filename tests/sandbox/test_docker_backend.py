"""The Docker backend against a real engine: hardening, lifecycle, warm pool, runtime injection, errors."""

from __future__ import annotations

import json
import os
import sys
import uuid
from typing import Any

import anyio
import anyio.to_thread
import pytest

from bridge.protocol import FrameDecoder, encode_frame, new_nonce
from gateway.config import ExecutionLimits
from gateway.errors import SandboxUnavailableError
from gateway.sandbox import (
    LABEL_HOST,
    LABEL_OWNER,
    LABEL_PID,
    LABEL_UID,
    BaseSandbox,
    DockerSandbox,
    DockerSandboxBackend,
    create_backend,
)
from gateway.sandbox._docker import READ_CHUNK_BYTES, UNREAD_PAUSE_BYTES
from gateway.sandbox._engine import connect_engine
from gateway.sandbox._runtime import bridge_digest
from tests.sandbox._docker import count_owned_containers, docker_settings, user_image

pytestmark = pytest.mark.anyio

LIMITS = ExecutionLimits()


async def run_job(sandbox: BaseSandbox, code: str) -> dict[str, Any]:
    """Send a job with no tools and collect its output and `done` frame."""
    nonce = new_nonce()
    job: dict[str, Any] = {"type": "job", "code": code, "stubs": "", "namespaces": [], "limits": {}, "helpers": False}
    await sandbox.send(encode_frame(nonce, job))
    decoder = FrameDecoder(nonce=nonce)
    stdout: list[str] = []
    with anyio.fail_after(30):
        while True:
            for _, message in decoder.feed(await sandbox.receive()):
                if message["type"] == "output" and message["stream"] == "stdout":
                    stdout.append(message["data"])
                if message["type"] == "done":
                    return {**message, "stdout": "".join(stdout)}


PROBE = r"""
import json, os, socket
facts = {"uid": os.getuid(), "gid": os.getgid(), "env": dict(os.environ), "cwd": os.getcwd()}
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
facts["cap_eff"] = status["CapEff"].strip()
facts["no_new_privs"] = status["NoNewPrivs"].strip()
def attempt(fn):
    try:
        fn()
        return "ok"
    except OSError as e:
        return type(e).__name__
facts["write_root"] = attempt(lambda: open("/evil", "w"))
facts["write_etc"] = attempt(lambda: open("/etc/passwd", "a"))
facts["write_tmp"] = attempt(lambda: open("/tmp/x", "w").write("x"))
facts["write_cwd"] = attempt(lambda: open("x", "w").write("x"))
facts["connect"] = attempt(lambda: socket.create_connection(("1.1.1.1", 53), timeout=2))
facts["interfaces"] = sorted(os.listdir("/sys/class/net"))  # netlink (if_nameindex) is denied by seccomp
import resource
facts["nofile"] = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
facts["core"] = resource.getrlimit(resource.RLIMIT_CORE)[1]
print(json.dumps(facts))
"""


async def test_hardened_container() -> None:
    settings = docker_settings(pool_size=0)
    async with DockerSandboxBackend(settings, LIMITS) as backend:
        sandbox = await backend.acquire()
        assert isinstance(sandbox, DockerSandbox)
        try:
            api = connect_engine(None)
            details = await anyio.to_thread.run_sync(api.inspect_container, sandbox.container_id)
            api.close()
            done = await run_job(sandbox, PROBE)
        finally:
            await sandbox.aclose()
    assert done["ok"], done.get("error")
    facts = json.loads(done["stdout"])
    assert settings.uid_range is not None
    first, last = settings.uid_range
    assert first <= facts["uid"] <= last and facts["gid"] == facts["uid"]
    assert details["Config"]["Labels"][LABEL_UID] == str(facts["uid"])
    assert facts["cap_eff"] == "0000000000000000"
    assert facts["no_new_privs"] == "1"
    assert facts["write_root"] != "ok" and facts["write_etc"] != "ok"
    assert facts["write_tmp"] == "ok" and facts["write_cwd"] == "ok"
    assert facts["cwd"] == "/work"
    assert facts["connect"] != "ok"
    assert facts["interfaces"] == ["lo"]
    assert facts["nofile"] == settings.nofile
    assert facts["core"] == 0
    assert set(facts["env"]) <= {"PATH", "HOSTNAME", "HOME", "LANG", "GPG_KEY", "PYTHON_VERSION", "PYTHON_SHA256"}

    host = details["HostConfig"]
    assert host["NetworkMode"] == "none"
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert host["SecurityOpt"][0] == "no-new-privileges"
    assert len(host["SecurityOpt"]) == 2 and host["SecurityOpt"][1].startswith("seccomp=")  # ours
    assert host["Sysctls"] == settings.sysctls
    assert host["PidsLimit"] == settings.pids_limit
    assert host["Memory"] == host["MemorySwap"] == settings.memory_mb * 1024 * 1024
    assert host["NanoCpus"] == int(settings.cpus * 1e9)
    assert host["Init"] is True
    assert host["LogConfig"]["Type"] == "none"
    assert set(host["Tmpfs"]) == {"/tmp", "/work"}
    assert "size=16m" in host["Tmpfs"]["/tmp"]
    assert {u["Name"] for u in host["Ulimits"]} == {"nofile", "fsize", "core"}
    labels = details["Config"]["Labels"]
    assert labels[LABEL_OWNER] == backend.owner
    assert labels[LABEL_PID] == str(os.getpid())
    assert LABEL_HOST in labels


async def test_runtime_and_extra_labels_reach_the_container() -> None:
    # `runtime` is how gVisor (`runsc`) is chosen; runc is the runtime every engine has.
    settings = docker_settings(pool_size=0, runtime="runc", labels={"team": "ptc-tests"})
    async with DockerSandboxBackend(settings, LIMITS) as backend:
        sandbox = await backend.acquire()
        assert isinstance(sandbox, DockerSandbox)
        try:
            api = connect_engine(None)
            details = await anyio.to_thread.run_sync(api.inspect_container, sandbox.container_id)
            api.close()
        finally:
            await sandbox.aclose()
    assert details["HostConfig"]["Runtime"] == "runc"
    assert details["Config"]["Labels"]["team"] == "ptc-tests"
    assert details["Config"]["Labels"][LABEL_OWNER] == backend.owner


async def test_warm_pool_hands_out_started_containers_and_leaves_nothing() -> None:
    async with DockerSandboxBackend(docker_settings(pool_size=2), LIMITS) as backend:
        with anyio.fail_after(60):
            while backend.pool_ready < 2:  # noqa: ASYNC110 - the pool has no public "ready" event
                await anyio.sleep(0.05)
        first = await backend.acquire()
        second = await backend.acquire()
        assert first.info.start == second.info.start == "warm"
        assert first.info.id != second.info.id
        done = await run_job(first, "print(6 * 7)")
        assert done["ok"] and done["stdout"] == "42\n"
        await first.aclose()
        await first.aclose()  # idempotent
        await second.aclose()
        owner = backend.owner
    assert count_owned_containers(owner) == 0


async def test_a_pooled_container_that_dies_while_idle_is_never_handed_out() -> None:
    async with DockerSandboxBackend(docker_settings(pool_size=1), LIMITS) as backend:
        with anyio.fail_after(60):
            while backend.pool_ready < 1:  # noqa: ASYNC110 - the pool has no public "ready" event
                await anyio.sleep(0.05)
        (pooled,) = backend.owned_containers
        await anyio.run_process(["docker", "kill", pooled])
        await anyio.sleep(0.5)  # the attach socket's reader sees the end of the stream
        sandbox = await backend.acquire()
        try:
            assert sandbox.info.id != pooled[:12]
            assert (await run_job(sandbox, "print('alive')"))["stdout"] == "alive\n"
        finally:
            await sandbox.aclose()
        with anyio.fail_after(30):
            while pooled in backend.owned_containers:  # noqa: ASYNC110 - the dead one is discarded in the background
                await anyio.sleep(0.05)


async def test_cold_start_when_pool_is_empty() -> None:
    async with DockerSandboxBackend(docker_settings(pool_size=0), LIMITS) as backend:
        sandbox = await backend.acquire()
        try:
            assert sandbox.info.start == "cold"
            assert sandbox.info.start_duration_s > 0
            assert (await run_job(sandbox, "print('cold')"))["stdout"] == "cold\n"
        finally:
            await sandbox.aclose()
        with anyio.fail_after(30):
            await backend.settle()
        assert backend.owned_containers == frozenset()


async def test_cancellation_kills_and_removes() -> None:
    async with DockerSandboxBackend(docker_settings(pool_size=0), LIMITS) as backend:
        sandbox = await backend.acquire()
        nonce = new_nonce()
        job: dict[str, Any] = {
            "type": "job",
            "code": "while True: pass",
            "stubs": "",
            "namespaces": [],
            "limits": {},
            "helpers": False,
        }
        with anyio.move_on_after(0.5):
            try:
                await sandbox.send(encode_frame(nonce, job))
                await anyio.sleep_forever()
            finally:
                await sandbox.aclose()
        with anyio.fail_after(30):
            await backend.settle()
        assert backend.owned_containers == frozenset()
        assert count_owned_containers(backend.owner) == 0


async def test_closing_the_backend_removes_everything_it_owns() -> None:
    backend = DockerSandboxBackend(docker_settings(pool_size=1), LIMITS)
    async with backend:
        held = await backend.acquire()  # never closed by the test
        assert held.info.id
    assert count_owned_containers(backend.owner) == 0


async def test_orphans_of_dead_gateways_are_reaped() -> None:
    settings = docker_settings(pool_size=0)
    # Owner names unique to this run: another test run on the same engine must not see (or reap) ours.
    dead_owner, live_owner = f"dead-gateway-{uuid.uuid4().hex}", f"live-gateway-{uuid.uuid4().hex}"
    dead = await anyio.run_process([sys.executable, "-c", "import os; print(os.getpid())"])
    dead_pid = dead.stdout.decode().strip()
    async with DockerSandboxBackend(settings, LIMITS) as creator:
        orphan = await creator.acquire()
        assert isinstance(orphan, DockerSandbox)
        api = connect_engine(None)
        # Forge the orphan: same labels as a container of a gateway (pid `dead_pid`) that has exited.
        details = await anyio.to_thread.run_sync(api.inspect_container, orphan.container_id)
        labels = {**details["Config"]["Labels"], LABEL_OWNER: dead_owner, LABEL_PID: dead_pid}
        created = await anyio.to_thread.run_sync(
            lambda: api.create_container(settings.image, command=["true"], labels=labels)
        )
        await orphan.aclose()
        alive_labels = {**labels, LABEL_OWNER: live_owner, LABEL_PID: str(os.getpid())}
        alive = await anyio.to_thread.run_sync(
            lambda: api.create_container(settings.image, command=["true"], labels=alive_labels)
        )
        try:
            async with DockerSandboxBackend(settings, LIMITS):
                pass  # entering reaps
            remaining = await anyio.to_thread.run_sync(
                lambda: api.containers(all=True, filters={"label": f"{LABEL_OWNER}={dead_owner}"})
            )
            assert remaining == []
            kept = await anyio.to_thread.run_sync(
                lambda: api.containers(all=True, filters={"label": f"{LABEL_OWNER}={live_owner}"})
            )
            assert [c["Id"] for c in kept] == [alive["Id"]]
        finally:
            for container in (created, alive):
                try:
                    await anyio.to_thread.run_sync(lambda c=container: api.remove_container(c["Id"], force=True))
                except Exception:  # noqa: BLE001 - cleanup of a container the test may already have seen reaped
                    pass
            api.close()


async def test_user_image_gets_the_runtime_over_stdin() -> None:
    image = user_image()
    settings = docker_settings(image=image, pool_size=0)
    async with create_backend(settings, LIMITS) as backend:
        assert isinstance(backend, DockerSandboxBackend)
        assert backend.runtime_mode == "stdin"
        sandbox = await backend.acquire()
        try:
            done = await run_job(sandbox, "import sys, os\nprint(sys.version_info[:2] >= (3, 10), os.getuid())")
        finally:
            await sandbox.aclose()
    assert done["ok"], done.get("error")
    first, last = settings.uid_range or (0, 0)
    ok, uid = done["stdout"].split()
    assert ok == "True" and first <= int(uid) <= last


async def test_stale_or_forced_stdin_injection_on_our_image() -> None:
    async with DockerSandboxBackend(docker_settings(pool_size=0, runtime_injection="stdin"), LIMITS) as backend:
        assert backend.runtime_mode == "stdin"
        sandbox = await backend.acquire()
        try:
            assert (await run_job(sandbox, "print('injected')"))["stdout"] == "injected\n"
        finally:
            await sandbox.aclose()


async def test_image_label_matches_current_bridge_or_auto_injects() -> None:
    async with DockerSandboxBackend(docker_settings(pool_size=0), LIMITS) as backend:
        api = connect_engine(None)
        labels = (await anyio.to_thread.run_sync(api.inspect_image, backend.settings.image))["Config"]["Labels"]
        api.close()
        expected = "baked" if labels.get("ptc-gateway.bridge-digest") == bridge_digest() else "stdin"
        assert backend.runtime_mode == expected


async def test_missing_image_is_a_clear_error() -> None:
    settings = docker_settings(image="ptc-no-such-image:never", pool_size=0)
    with pytest.raises(SandboxUnavailableError, match=r"ptc-gateway image build"):
        async with DockerSandboxBackend(settings, LIMITS):
            pass


async def test_engine_down_is_a_clear_error(tmp_path: Any) -> None:
    settings = docker_settings(docker_host=f"unix://{tmp_path}/no-engine.sock", pool_size=0)
    backend = DockerSandboxBackend(settings, LIMITS)
    with pytest.raises(SandboxUnavailableError, match=r"scripts/ensure-docker"):
        await backend.acquire()
    await backend.aclose()


async def test_old_python_is_a_clear_error() -> None:
    # The image's interpreter is fine; point `python` at a command that exits like an old Python would.
    settings = docker_settings(pool_size=0, runtime_injection="stdin", python="/bin/false")
    async with DockerSandboxBackend(settings, LIMITS) as backend:
        with pytest.raises(SandboxUnavailableError, match=r"exited before it was ready"):
            await backend.acquire()
        with anyio.fail_after(30):
            await backend.settle()
        assert backend.owned_containers == frozenset()


async def test_close_wakes_a_blocked_reader() -> None:
    async with DockerSandboxBackend(docker_settings(pool_size=0), LIMITS) as backend:
        sandbox = await backend.acquire()
        outcome: list[str] = []

        async def read() -> None:
            try:
                await sandbox.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError) as e:
                outcome.append(type(e).__name__)

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(read)
                await anyio.wait_all_tasks_blocked()
                await sandbox.aclose()
        assert outcome
        with pytest.raises(anyio.EndOfStream):
            await sandbox.receive()


async def test_a_flood_the_gateway_does_not_read_stays_in_the_container_and_nothing_is_lost() -> None:
    """The attach reader pauses while 1 MiB is unread: the runner blocks, the gateway's memory does not grow."""
    printed = 24 * 1024 * 1024
    nonce = new_nonce()
    code = f"import sys\nfor _ in range({printed // 65536}):\n    sys.stdout.write('x' * 65536)\n"
    job: dict[str, Any] = {
        "type": "job",
        "code": code,
        "stubs": "",
        "namespaces": [],
        "limits": {"max_output_bytes": 2 * printed},
        "helpers": False,
    }
    async with DockerSandboxBackend(docker_settings(pool_size=0), LIMITS) as backend:
        sandbox = await backend.acquire()
        assert isinstance(sandbox, DockerSandbox)
        try:
            await sandbox.send(encode_frame(nonce, job))
            await anyio.sleep(1.5)  # the runner writes as fast as it can; nobody receives
            assert 0 < sandbox.unread_bytes <= UNREAD_PAUSE_BYTES + READ_CHUNK_BYTES
            decoder = FrameDecoder(nonce=nonce)
            received = 0
            done: dict[str, Any] | None = None
            with anyio.fail_after(60):
                while done is None:
                    for _, message in decoder.feed(await sandbox.receive()):
                        if message["type"] == "output":
                            received += len(message["data"])
                        elif message["type"] == "done":
                            done = message
                    assert sandbox.unread_bytes <= UNREAD_PAUSE_BYTES + READ_CHUNK_BYTES
            assert done["ok"] and done["stdout_dropped"] == 0
            assert received == printed
        finally:
            await sandbox.aclose()
