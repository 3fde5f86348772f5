"""The Docker sandbox backend: one fresh, locked-down container per execution.

Each container runs the bridge runner with stdin/stdout/stderr attached through the engine's
attach socket (a hijacked HTTP connection). The engine multiplexes stdout and stderr on it with
8-byte headers; stdout carries only protocol frames, stderr is kept (capped) as diagnostics.
Containers are created with the hardened `SandboxSettings`, labelled with our ownership labels,
killed and removed when closed, and never reused. A warm pool keeps started containers ready.

Blocking SDK calls run in worker threads; the attach socket itself is read and written
non-blocking on the event loop. On asyncio the socket stays registered with the loop (one reader
callback for the container's life, paused while too much unread output is buffered) instead of
being re-armed per read: a tool call's frame then costs no epoll_ctl calls and no extra wake-up.
Other anyio backends read on demand (`anyio.wait_readable`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Self, cast

import anyio
import anyio.to_thread
from anyio.abc import TaskGroup
from docker.types import LogConfig, Ulimit

from gateway.config import ExecutionLimits, SandboxSettings
from gateway.errors import SandboxUnavailableError
from gateway.sandbox._base import BaseSandbox, BaseSandboxBackend, SandboxInfo, await_hello
from gateway.sandbox._engine import (
    IMAGE_FIX,
    EngineApi,
    ImageMissingError,
    NotFoundError,
    connect_engine,
    engine_errors,
    raw_socket,
)
from gateway.sandbox._exits import ContainerExit, ExitWatch
from gateway.sandbox._owner import LABEL_OWNER, current_identity, is_orphan
from gateway.sandbox._pool import WarmPool
from gateway.sandbox._removal import Removals
from gateway.sandbox._runtime import (
    DIGEST_LABEL,
    EXIT_NO_PAYLOAD,
    EXIT_OLD_PYTHON,
    RuntimeMode,
    bridge_digest,
    injection_payload,
    runner_command,
)
from gateway.sandbox._seccomp import seccomp_security_opt
from gateway.sandbox._uids import UidPool

__all__ = [
    "LABEL_UID",
    "READ_CHUNK_BYTES",
    "UNREAD_PAUSE_BYTES",
    "DockerSandbox",
    "DockerSandboxBackend",
]

logger = logging.getLogger(__name__)

LABEL_UID = "ptc-gateway.uid"
"""The uid a sandbox runs as (when `[sandbox] uid_range` gives each its own)."""

_STDOUT = 1
_STDERR = 2
READ_CHUNK_BYTES = 256 * 1024
UNREAD_PAUSE_BYTES = 1024 * 1024
"""Unread stdout held before the reader pauses; the runner then blocks on its pipe (backpressure)."""
MAX_PENDING_REMOVALS = 16
"""Used containers waiting to be killed and removed in the background; one more waits for a slot."""
MAX_PARALLEL_REMOVAL_CALLS = 4
"""Engine calls to kill and remove containers that did not go away by themselves, at once."""
AUTO_REMOVE_GRACE_S = 0.5
"""How long a used container may take to exit and be removed by the engine before we kill it."""
_REMOVAL_WAIT_S = 10.0
_REMOVAL_POLL_S = 0.02
_UID_ATTEMPTS = 8
"""Random picks from `uid_range` tried before giving up because other gateways hold them."""


class DockerSandbox(BaseSandbox):
    """One started container whose runner has said hello."""

    def __init__(
        self,
        *,
        api: EngineApi,
        container_id: str,
        sock: socket.socket,
        close_socket: Callable[[], None],
        info: SandboxInfo,
        max_diagnostics_bytes: int,
        memory_mb: int,
        retire: Callable[[str], Awaitable[None]],
        outcome: Callable[[str], ContainerExit | None],
    ) -> None:
        self.info = info
        self._api = api
        self._id = container_id
        self._sock = sock
        self._close_socket = close_socket
        self._sock.setblocking(False)
        self._memory_mb = memory_mb
        self._retire = retire
        self._outcome = outcome
        # Demultiplexer state: an incomplete header, the stream and bytes left of the current chunk.
        self._recv_buffer = bytearray(READ_CHUNK_BYTES)
        self._recv_view = memoryview(self._recv_buffer)
        self._header = b""
        self._stream = 0
        self._remaining = 0
        self._stdout = bytearray()
        self._eof = False
        # The asyncio reader (see the module docstring): the loop it is registered with, if it is.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watching = False
        self._waiter: asyncio.Future[None] | None = None
        self._diag = bytearray()
        self._diag_cap = max_diagnostics_bytes
        self._diag_dropped = 0
        self._oom_killed = False
        self._closed = False

    @property
    def unread_bytes(self) -> int:
        """Stdout read from the engine but not yet `receive`d: bounded by the reader's pause."""
        return len(self._stdout)

    @property
    def container_id(self) -> str:
        """The full container id."""
        return self._id

    async def send(self, data: bytes) -> None:
        """Write to the container's stdin."""
        view = memoryview(data)
        while view:
            try:
                sent = self._sock.send(view)
            except BlockingIOError:
                await anyio.wait_writable(self._sock)
                continue
            except OSError as e:
                raise anyio.BrokenResourceError(f"the sandbox's stdin is closed ({e})") from e
            view = view[sent:]

    async def receive(self, max_bytes: int = 65536) -> bytes:
        """Next chunk of the container's stdout; `anyio.EndOfStream` once the container is gone."""
        while not self._stdout:
            if self._eof or self._closed:
                raise anyio.EndOfStream
            loop = _asyncio_loop()
            if loop is None:
                await self._receive_on_demand()
                continue
            if not self._watching:
                self._watch(loop)
            waiter = self._waiter = loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        chunk = bytes(self._stdout[:max_bytes])
        del self._stdout[:max_bytes]
        if self._loop is not None and not self._watching and len(self._stdout) < UNREAD_PAUSE_BYTES:
            self._watch(self._loop)  # caught up: read again
        return chunk

    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._closed or self._eof:
            return
        self._loop = loop
        loop.add_reader(self._sock, self._on_readable)
        self._watching = True

    def _unwatch(self) -> None:
        if self._watching and self._loop is not None:
            self._loop.remove_reader(self._sock)
        self._watching = False

    def _on_readable(self) -> None:
        """The loop's reader callback: demultiplex what the socket has, wake the waiting `receive`."""
        try:
            size = self._sock.recv_into(self._recv_buffer)
        except BlockingIOError:
            return
        except OSError:
            size = 0
        if size:
            self._demux(self._recv_view[:size])
            if len(self._stdout) >= UNREAD_PAUSE_BYTES:
                self._unwatch()
        else:
            self._eof = True
            self._unwatch()
        if self._stdout or self._eof:
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _receive_on_demand(self) -> None:
        data = await self._recv()
        if data:
            self._demux(data)
        else:
            self._eof = True

    async def _recv(self) -> memoryview:
        """Read what the socket has (into one reused buffer: no fresh 256 KiB bytes per read)."""
        while True:
            if self._closed:
                return memoryview(b"")
            try:
                size = self._sock.recv_into(self._recv_buffer)
            except BlockingIOError:
                await anyio.wait_readable(self._sock)
            except OSError:
                return memoryview(b"")
            else:
                return self._recv_view[:size]

    def _demux(self, view: memoryview) -> None:
        while view:
            if self._remaining == 0:
                need = 8 - len(self._header)
                self._header += bytes(view[:need])
                view = view[need:]
                if len(self._header) < 8:
                    return
                self._stream = self._header[0]
                self._remaining = int.from_bytes(self._header[4:8], "big")
                self._header = b""
                continue
            chunk = view[: self._remaining]
            view = view[len(chunk) :]
            self._remaining -= len(chunk)
            if self._stream == _STDOUT:
                self._stdout += chunk
            else:
                self._keep_diagnostics(chunk)

    def _keep_diagnostics(self, chunk: memoryview) -> None:
        room = self._diag_cap - len(self._diag)
        self._diag += chunk[: max(room, 0)]
        self._diag_dropped += max(len(chunk) - max(room, 0), 0)

    async def diagnostics(self) -> str:
        """The container's stderr so far (capped), plus what the engine said about its death."""
        text = self._diag.decode("utf-8", "replace")
        if self._diag_dropped:
            text += f"\n[... {self._diag_dropped} more bytes of stderr dropped]"
        if self._oom_killed:
            text += f"\n[the container was killed for exceeding its {self._memory_mb} MB memory limit]"
        return text

    def is_alive(self) -> bool:
        """Cheap liveness check for idle pooled containers: has the attach socket hit EOF?"""
        if self._closed or self._eof:
            return False
        try:
            peeked = self._sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return True
        except OSError:
            return False
        return bool(peeked)

    async def freeze(self) -> None:
        """Pause every process of the container (cgroup freezer): no CPU, no progress, until `thaw`."""
        with engine_errors("pausing the sandbox"):
            await anyio.to_thread.run_sync(self._api.pause, self._id)

    async def thaw(self) -> None:
        """Let a frozen container run again."""
        with engine_errors("unpausing the sandbox"):
            await anyio.to_thread.run_sync(self._api.unpause, self._id)

    async def exit_status(self) -> int | None:
        """The container's exit code once it has stopped, else None.

        The engine removes an exited container by itself (AutoRemove), so the backend's event watch
        is asked first; inspecting covers the moment before its event arrives.
        """
        if (outcome := self._outcome(self._id)) is not None:
            self._oom_killed = self._oom_killed or outcome.oom_killed
            return outcome.code
        try:
            with engine_errors("inspecting the sandbox"):
                state = (await anyio.to_thread.run_sync(self._api.inspect_container, self._id)).get("State", {})
        except NotFoundError:
            return None  # removed: its event is on the way (the caller polls)
        if state.get("OOMKilled"):
            self._oom_killed = True
        if state.get("Running") or state.get("Status") in ("created", "restarting"):
            return None
        code = state.get("ExitCode")
        return int(code) if isinstance(code, int) else None

    async def aclose(self) -> None:
        """Close the attach socket and hand the container to the backend to kill and remove.

        Shielded and idempotent. Returns before the engine has removed the container (that takes
        tens of milliseconds and is not the caller's business): the backend removes it in the
        background, bounded, and waits for it on close. Closing the socket also closes the runner's
        stdin, so the runner exits at once if it has not already.
        """
        if self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True):
            # A task waiting to read gets EndOfStream (or ClosedResourceError), not a hang.
            self._unwatch()
            self._wake()
            anyio.notify_closing(self._sock)
            self._close_socket()
            await self._retire(self._id)


def _asyncio_loop() -> asyncio.AbstractEventLoop | None:
    """The running asyncio loop; None under another anyio backend."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


async def _remove(api: EngineApi, container_id: str) -> None:
    """`docker rm -f`: SIGKILL then remove; returns once the container is gone (or could not be removed).

    A container already gone is fine. One the engine is already removing (AutoRemove after it
    exited) is waited for, so "removed" means the engine no longer lists it.
    """
    try:
        with engine_errors("removing a sandbox container"):
            await anyio.to_thread.run_sync(partial(api.remove_container, container_id, v=True, force=True))
    except NotFoundError:
        pass
    except SandboxUnavailableError as e:
        if "already in progress" not in str(e):
            logger.warning("could not remove sandbox container %s: %s", container_id[:12], e)
            return
        with anyio.move_on_after(_REMOVAL_WAIT_S):
            while True:
                try:
                    with engine_errors("waiting for a sandbox container's removal"):
                        await anyio.to_thread.run_sync(api.inspect_container, container_id)
                except NotFoundError:
                    return
                except SandboxUnavailableError:
                    return
                await anyio.sleep(_REMOVAL_POLL_S)  # the engine has no "removed" event we could wait on here


class DockerSandboxBackend(BaseSandboxBackend):
    """Hands out fresh hardened containers, from a warm pool when one is ready.

    Use it as an async context manager (`async with DockerSandboxBackend(...) as backend:`): entering
    checks the engine and the image, reaps orphaned containers of dead gateways, and starts the
    pool's refill task; leaving removes every container it still owns.
    """

    name = "docker"

    def __init__(self, settings: SandboxSettings, limits: ExecutionLimits) -> None:
        self.settings = settings
        self.limits = limits
        self.owner = uuid.uuid4().hex
        self._identity = current_identity()
        self._api: EngineApi | None = None
        self._mode: RuntimeMode = "baked"
        self._owned: set[str] = set()
        """Every container created and not yet removed: pooled, handed out, or waiting for removal."""
        self._sandboxes: dict[str, DockerSandbox] = {}
        """Handed-out or pooled sandboxes not yet closed (their sockets are closed with the backend)."""
        self._lock = anyio.Lock()
        self._tg: TaskGroup | None = None
        self._pool: WarmPool[DockerSandbox] | None = None
        self._pool_scope = anyio.CancelScope()
        self._removals = Removals(remove=self._remove_owned, max_pending=MAX_PENDING_REMOVALS)
        self._removal_calls = anyio.CapacityLimiter(MAX_PARALLEL_REMOVAL_CALLS)
        self._exits: ExitWatch | None = None
        self._closed = False
        self._uids = UidPool(*settings.uid_range) if settings.uid_range is not None else None
        self._uid_of: dict[str, int] = {}
        """The uid of each container created with one of `_uids` (released when it is removed)."""
        self._security_opt: list[str] = []

    async def __aenter__(self) -> Self:
        api = await self._ensure_engine()
        await self.reap_orphans()
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        try:
            self._exits = ExitWatch(api, label=f"{LABEL_OWNER}={self.owner}")
            await self._tg.start(self._exits.run)
        except BaseException:
            self._tg.cancel_scope.cancel()
            await self._tg.__aexit__(None, None, None)
            self._tg = None
            raise
        self._removals.start(self._tg)
        if self.settings.pool_size:
            self._pool = WarmPool(
                size=self.settings.pool_size,
                start=partial(self._start_container, "warm"),
                discard=_close_sandbox,
                is_alive=DockerSandbox.is_alive,
                refill_delay_s=self.settings.pool_refill_delay_s,
                room=self._removals.room,
                max_size=self.settings.pool_max_size,
                shrink_after_s=self.settings.pool_shrink_after_s,
            )
            self._tg.start_soon(self._run_pool, self._pool, self._tg)
        return self

    async def _run_pool(self, pool: WarmPool[DockerSandbox], task_group: TaskGroup) -> None:
        with self._pool_scope:
            await pool.run(task_group)

    @property
    def runtime_mode(self) -> RuntimeMode:
        """How the bridge runtime gets into the containers: baked into the image or sent over stdin."""
        return self._mode

    @property
    def pool_target(self) -> int:
        """How many ready containers the pool aims for now (grows with demand, see `WarmPool`)."""
        return self._pool.target if self._pool else 0

    @property
    def pool_ready(self) -> int:
        """Started containers waiting in the pool."""
        return self._pool.ready if self._pool else 0

    @property
    def owned_containers(self) -> frozenset[str]:
        """Ids of every container this backend has created and not yet removed (including pending removals)."""
        return frozenset(self._owned)

    @property
    def pending_removals(self) -> frozenset[str]:
        """Ids of used containers handed to the background removal and not yet removed."""
        return self._removals.pending

    async def settle(self) -> None:
        """Wait until every used container handed over so far has been removed (benchmarks, tests)."""
        await self._removals.settle()

    async def _ensure_engine(self) -> EngineApi:
        async with self._lock:
            if self._closed:
                raise SandboxUnavailableError("the Docker sandbox backend is closed")
            if self._api is None:
                api = await anyio.to_thread.run_sync(partial(connect_engine, self.settings.docker_host))
                try:
                    # Reads the seccomp profile (a file): in a worker thread, once.
                    self._security_opt = await anyio.to_thread.run_sync(seccomp_security_opt, self.settings)
                    self._mode = await self._resolve_mode(api)
                except BaseException:
                    await anyio.to_thread.run_sync(api.close)
                    raise
                self._api = api
            return self._api

    async def _resolve_mode(self, api: EngineApi) -> RuntimeMode:
        image = self.settings.image
        try:
            with engine_errors(f"inspecting the sandbox image {image!r}"):
                details = await anyio.to_thread.run_sync(api.inspect_image, image)
        except (ImageMissingError, NotFoundError) as e:
            raise ImageMissingError(f"the sandbox image {image!r} is not on the Docker engine; {IMAGE_FIX}") from e
        config = cast(dict[str, Any], details.get("Config") or {})
        labels = cast(dict[str, str], config.get("Labels") or {})
        configured = self.settings.runtime_injection
        if configured != "auto":
            return configured
        if labels.get(DIGEST_LABEL) == await anyio.to_thread.run_sync(bridge_digest):  # reads the bridge sources
            return "baked"
        if DIGEST_LABEL in labels:
            logger.warning(
                "image %r carries an older bridge runtime; injecting the current one over stdin "
                "(rebuild with `ptc-gateway image build` to skip this)",
                image,
            )
        return "stdin"

    async def reap_orphans(self) -> int:
        """Remove containers whose owning gateway is gone (see `gateway.sandbox._owner`). Returns the count."""
        api = await self._ensure_engine()
        with engine_errors("listing sandbox containers"):
            found = await anyio.to_thread.run_sync(partial(api.containers, all=True, filters={"label": [LABEL_OWNER]}))
        orphans: list[str] = []
        for container in found:
            labels = cast(dict[str, str], container.get("Labels") or {})
            if labels.get(LABEL_OWNER) == self.owner:
                continue
            if await anyio.to_thread.run_sync(
                partial(is_orphan, labels, container.get("Created"), self._identity, partial(_inspect_or_none, api))
            ):
                orphans.append(str(container["Id"]))
        if orphans:
            logger.info("reaping %d orphaned sandbox container(s)", len(orphans))
            async with anyio.create_task_group() as tg:
                for container_id in orphans:
                    tg.start_soon(_remove, api, container_id)
        return len(orphans)

    async def acquire(self) -> BaseSandbox:
        """A pooled container when one is ready, else a freshly started one."""
        await self._ensure_engine()
        began = anyio.current_time()
        if self._pool is not None and (sandbox := self._pool.take()) is not None:
            sandbox.info = dataclasses.replace(
                sandbox.info, start="warm", start_duration_s=anyio.current_time() - began
            )
            return sandbox
        return await self._start_container("cold")

    @property
    def live_uids(self) -> frozenset[int]:
        """The uids of this backend's containers not yet removed (empty without `uid_range`)."""
        return frozenset(self._uid_of.values())

    def _container_config(self, uid: int | None) -> dict[str, Any]:
        s = self.settings
        api = self._api
        assert api is not None
        mb = 1024 * 1024
        host_config = api.create_host_config(
            network_mode=s.network_mode,
            read_only=s.read_only,
            tmpfs={
                "/tmp": f"rw,noexec,nosuid,nodev,size={s.tmp_size_mb}m,mode=1777",
                s.workdir: f"rw,nosuid,nodev,size={s.workdir_size_mb}m,mode=1777",
            },
            cap_drop=s.cap_drop,
            cap_add=s.cap_add or None,
            security_opt=self._security_opt,
            sysctls=s.sysctls or None,
            pids_limit=s.pids_limit,
            mem_limit=s.memory_mb * mb,
            memswap_limit=s.memory_mb * mb,
            nano_cpus=int(s.cpus * 1e9),
            ulimits=[
                Ulimit(name="nofile", soft=s.nofile, hard=s.nofile),
                Ulimit(name="fsize", soft=s.fsize_mb * mb, hard=s.fsize_mb * mb),
                Ulimit(name="core", soft=0, hard=0),
            ],
            init=s.init,
            # The engine removes the container once it exits: the runner exits when our end of its
            # stdio closes, so even a SIGKILLed gateway leaves nothing behind for long.
            auto_remove=True,
            log_config=LogConfig(type="none"),
            runtime=s.runtime,
        )
        return {
            "image": s.image,
            "command": runner_command(self._mode, python=s.python),
            "stdin_open": True,
            "tty": False,
            "user": f"{uid}:{uid}" if uid is not None else s.user,
            "working_dir": s.workdir,
            "environment": {},
            "network_disabled": s.network_mode == "none",
            "labels": {
                **s.labels,
                **self._identity.labels(self.owner),
                **({LABEL_UID: str(uid)} if uid is not None else {}),
            },
            "host_config": host_config,
        }

    async def _start_container(self, kind: str) -> DockerSandbox:
        api = await self._ensure_engine()
        began = anyio.current_time()
        uid = await self._allocate_uid(api)
        config = self._container_config(uid)
        try:
            with engine_errors("creating a sandbox container"):
                created = await anyio.to_thread.run_sync(partial(api.create_container, **config))
        except BaseException:
            if uid is not None and self._uids is not None:
                self._uids.release(uid)
            raise
        container_id = str(created["Id"])
        self._owned.add(container_id)
        if uid is not None:
            self._uid_of[container_id] = uid
        sandbox: DockerSandbox | None = None
        try:
            with anyio.fail_after(self.settings.start_timeout_s):
                with engine_errors("attaching to a sandbox container"):
                    attached = await anyio.to_thread.run_sync(
                        partial(api.attach_socket, container_id, {"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
                    )
                sock, close_socket = raw_socket(attached)
                sandbox = DockerSandbox(
                    api=api,
                    container_id=container_id,
                    sock=sock,
                    close_socket=close_socket,
                    info=SandboxInfo(backend=self.name, id=container_id[:12], start="cold", start_duration_s=0.0),
                    max_diagnostics_bytes=self.settings.max_diagnostics_bytes,
                    memory_mb=self.settings.memory_mb,
                    retire=self._retire,
                    outcome=self._outcome,
                )
                self._sandboxes[container_id] = sandbox
                with engine_errors("starting a sandbox container"):
                    await anyio.to_thread.run_sync(api.start, container_id)
                if self._mode == "stdin":
                    try:
                        await sandbox.send(injection_payload())
                    except anyio.BrokenResourceError:
                        raise SandboxUnavailableError(await _describe_early_exit(sandbox)) from None
                await await_hello(sandbox, describe_exit=partial(_describe_early_exit, sandbox), protocol_fix=IMAGE_FIX)
        except TimeoutError:
            diagnostics = await sandbox.diagnostics() if sandbox else ""
            await self._discard(container_id, sandbox)
            raise SandboxUnavailableError(
                f"the sandbox did not start within {self.settings.start_timeout_s:g} s"
                + (f"; its stderr: {diagnostics}" if diagnostics else "")
            ) from None
        except BaseException:
            await self._discard(container_id, sandbox)
            raise
        sandbox.info = dataclasses.replace(
            sandbox.info, start="warm" if kind == "warm" else "cold", start_duration_s=anyio.current_time() - began
        )
        return sandbox

    async def _retire(self, container_id: str) -> None:
        """A closed sandbox: forget its socket, queue the container for removal (bounded; see `Removals`)."""
        self._sandboxes.pop(container_id, None)
        await self._removals.retire(container_id)

    async def _remove_owned(self, container_id: str) -> None:
        """Make sure a used container is gone, with an engine call only when needed.

        The engine removes it once the runner exits (AutoRemove), which the runner does as soon as
        its stdio closes; a container still there after `AUTO_REMOVE_GRACE_S` is killed and removed.
        """
        exits = self._exits
        if exits is not None:
            with anyio.move_on_after(AUTO_REMOVE_GRACE_S):
                await exits.wait_destroyed(container_id)
        if (exits is None or not exits.destroyed(container_id)) and self._api is not None:
            async with self._removal_calls:  # waiting for the engine's own removal took no slot
                await _remove(self._api, container_id)
        self._forget(container_id)
        if exits is not None:
            exits.forget(container_id)

    def _outcome(self, container_id: str) -> ContainerExit | None:
        return self._exits.outcome(container_id) if self._exits is not None else None

    async def _allocate_uid(self, api: EngineApi) -> int | None:
        """A uid from `uid_range` no live sandbox has: not ours (the pool), nor another gateway's (the engine)."""
        uids = self._uids
        if uids is None:
            return None
        for _ in range(_UID_ATTEMPTS):
            uid = uids.allocate()
            try:
                with engine_errors("listing sandbox containers"):
                    taken = await anyio.to_thread.run_sync(
                        partial(api.containers, all=True, filters={"label": f"{LABEL_UID}={uid}"})
                    )
            except BaseException:
                uids.release(uid)
                raise
            if not taken:
                return uid
            uids.release(uid)  # another gateway on this engine runs a sandbox as this uid
        raise SandboxUnavailableError(
            f"no free uid found in [sandbox] uid_range after {_UID_ATTEMPTS} tries: other gateways on this "
            "engine use it; give each gateway its own range"
        )

    def _forget(self, container_id: str) -> None:
        """The container is removed: forget it and free its uid."""
        self._owned.discard(container_id)
        self._sandboxes.pop(container_id, None)
        uid = self._uid_of.pop(container_id, None)
        if uid is not None and self._uids is not None:
            self._uids.release(uid)

    async def _discard(self, container_id: str, sandbox: DockerSandbox | None) -> None:
        with anyio.CancelScope(shield=True):
            if sandbox is not None:
                await sandbox.aclose()
            else:
                await self._removals.retire(container_id)

    async def aclose(self) -> None:
        """Stop refilling, then kill and remove every container this backend still owns.

        Removals still pending in the background are waited for; sandboxes still handed out are
        closed and removed too.
        """
        if self._closed:
            return
        self._closed = True
        self._pool_scope.cancel()
        with anyio.CancelScope(shield=True):
            if self._pool is not None:
                await self._pool.aclose()
            await self._removals.drain()
        if self._tg is not None:
            # Not under the shield: a task group must be left in the scope it was entered in. Only
            # finished removals and the cancelled pool remain in it.
            task_group, self._tg = self._tg, None
            task_group.cancel_scope.cancel()
            await task_group.__aexit__(None, None, None)
        with anyio.CancelScope(shield=True):
            api = self._api
            if api is not None:
                async with anyio.create_task_group() as tg:
                    for sandbox in list(self._sandboxes.values()):
                        tg.start_soon(_close_sandbox, sandbox)
                    for container_id in self._owned - set(self._sandboxes):
                        tg.start_soon(_remove, api, container_id)
                self._owned.clear()
                self._sandboxes.clear()
                self._uid_of.clear()
                await anyio.to_thread.run_sync(api.close)


async def _close_sandbox(sandbox: DockerSandbox) -> None:
    await sandbox.aclose()


async def _describe_early_exit(sandbox: DockerSandbox) -> str:
    code: int | None = None
    with anyio.move_on_after(5):
        while (code := await sandbox.exit_status()) is None:  # noqa: ASYNC110 - the engine has no exit event we can await here
            await anyio.sleep(0.05)
    reason = {
        EXIT_OLD_PYTHON: "the image's Python is older than 3.10",
        EXIT_NO_PAYLOAD: "the bridge runtime was not received",
        127: "the image has no such interpreter (set [sandbox] python)",
    }.get(code or 0, f"exit code {code}")
    diagnostics = (await sandbox.diagnostics()).strip()
    return f"the sandbox runner exited before it was ready ({reason})" + (f": {diagnostics}" if diagnostics else "")


def _inspect_or_none(api: EngineApi, container_id: str) -> dict[str, Any] | None:
    try:
        with engine_errors(f"inspecting container {container_id[:12]}"):
            return api.inspect_container(container_id)
    except NotFoundError:
        return None
