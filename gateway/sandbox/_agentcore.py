"""The AgentCore Code Interpreter sandbox backend: one fresh managed session per execution.

The session has no channel back to the caller, so the bridge's byte pipe is carried through the
session's own API (channel option 1 of docs/agentcore.md; works in the SANDBOX network mode):

- start: `StartCodeInterpreterSession`; `writeFiles` ships the `bridge` package and the relay
  (`_agentcore_relay.py`) into a fresh directory; `startCommandExecution` runs ``relay.py serve``,
  which starts the runner with a FIFO as its stdin and an append-only file as its stdout; a first
  poll brings back its `hello`.
- runner -> host: one long poll at a time (`executeCommand` running ``relay.py poll``) blocks in
  the session until the runner has written past the offset we have read (or `poll_wait_s`
  passes) and returns every byte written in that burst, so a `gather` of 100 calls comes back in
  one or two replies. Polls are reads at an offset: retrying or abandoning one loses nothing.
- host -> runner: whatever the executor sends is queued and pushed by one pusher, in order, one
  API call per batch (``relay.py push``, inline; large batches go in with `writeFiles` first).
  Results that complete while a push is in flight go together in the next one. Pushes carry a
  sequence number and are applied once, so they can be retried.

Lifecycle: a session serves exactly one execution and is always stopped (`aclose`, the backend's
`aclose` on shutdown, and every failure path); a session another execution touched is never used.
The warm pool holds sessions that have run nothing but the runner's start, and replaces those whose
remaining lifetime (`sessionTimeoutSeconds` counts from the start) is too short. The executor
enforces every limit (wall clock, output, frame size, call count) on the bytes exactly as on Docker.

With `channel = "connect-back"` (option 2, `_agentcore_connect.py`) the runner instead connects back
to the gateway over TLS with a per-execution token, and the connection is the byte pipe.

A running execution's session-api channel can be detached into an `AgentCoreHandle` (session id, directory,
read offset, next push number) and re-attached by another gateway process (`attach`): everything
else lives in the session. The execution's nonce and call bookkeeping belong to the executor's own
state, which the caller keeps next to the handle.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import logging
import os
import re
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import cache, partial
from importlib import resources
from typing import Any, Self

import anyio
from anyio.abc import TaskGroup, TaskStatus

from bridge.protocol import HELLO_NONCE, PROTOCOL_VERSION, FrameDecoder, FrameError
from gateway.config import ExecutionLimits, SandboxSettings
from gateway.errors import SandboxError, SandboxUnavailableError
from gateway.sandbox._agentcore_api import AgentCoreApi, InvokeResult
from gateway.sandbox._agentcore_connect import ConnectBackListener, ConnectBackSandbox, Connection
from gateway.sandbox._base import HELLO_MAX_BYTES, BaseSandbox, BaseSandboxBackend, SandboxInfo, await_hello
from gateway.sandbox._owner import current_identity, pid_alive
from gateway.sandbox._pool import WarmPool
from gateway.sandbox._runtime import bridge_sources

__all__ = ["AgentCoreHandle", "AgentCoreSandbox", "AgentCoreSandboxBackend"]

logger = logging.getLogger(__name__)

_INBOX_CHUNKS = 4
"""Poll replies held for the executor before the poller waits (backpressure)."""
_MAX_OUTBOX_BYTES = 8 * 1024 * 1024
"""Bytes queued for the runner before `send` waits for the pusher."""
_MAX_PUSH_BYTES = 4 * 1024 * 1024
_STDERR_CHARS = 16 * 1024
_POOL_MARGIN_S = 60.0
"""A pooled session is handed out only if it will live this much longer than an execution may take."""
_DETACH_FLUSH_S = 30.0
_MAX_HANDLE_CHARS = 4096
_EXIT_CLAIMED = 3
"""`relay.py claim`: the token was claimed already (the relay's `EXIT_CLAIMED`)."""
_EXIT_MIN, _EXIT_MAX = -255, 255
"""A process's exit status as the relay reports it (`Popen.returncode`: negative for a signal)."""
_NAME_PREFIX = "ptc-gateway-"
_NAME = re.compile(r"ptc-gateway-(?P<host>[A-Za-z0-9]{1,40})-(?P<pidns>[0-9]{1,20})-(?P<pid>[0-9]{1,10})-[0-9a-f]{12}")


def _mac(key: bytes, body: str) -> str:
    digest = hmac.new(key, body.encode("ascii", "replace"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


@cache
def relay_source() -> str:
    """The in-session relay's text (shipped with `writeFiles`)."""
    return resources.files("gateway.sandbox").joinpath("_agentcore_relay.py").read_text("utf-8")


def _runtime_sources() -> list[tuple[str, str]]:
    """(relative path, text) of everything shipped into a session: the bridge package and the relay."""
    return [*bridge_sources().items(), ("relay.py", relay_source())]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AgentCoreHandle:
    """Everything the gateway side of a running execution's channel needs, to re-attach from another process.

    It grants control of the session: pass it between processes only `sign`ed (HMAC with a key the
    gateways share) and `verify` it before attaching; keep it as secret as the AWS credentials.
    """

    code_interpreter_id: str
    session_id: str
    directory: str
    """The session directory holding the bridge, the relay and the channel's files."""
    offset: int
    """Runner output bytes the executor has consumed; the next poll reads from here."""
    next_push: int
    """Sequence number of the next push (earlier ones are applied once, whoever retries them)."""
    expires_at: float
    """Unix time when the session's lifetime (`sessionTimeoutSeconds`) ends."""

    def to_json(self) -> str:
        """A compact JSON text of the handle."""
        return json.dumps(dataclasses.asdict(self), separators=(",", ":"))

    def sign(self, key: bytes) -> str:
        """The handle as a tamper-evident token: base64url(JSON) "." base64url(HMAC-SHA256 with `key`)."""
        body = base64.urlsafe_b64encode(self.to_json().encode()).decode("ascii").rstrip("=")
        return f"{body}.{_mac(key, body)}"

    @classmethod
    def verify(cls, token: str, key: bytes) -> AgentCoreHandle:
        """The handle in a `sign`ed token; `SandboxUnavailableError` when it is forged, altered or expired."""
        body, _, mac = token.partition(".")
        if len(token) > _MAX_HANDLE_CHARS or not hmac.compare_digest(mac, _mac(key, body)):
            raise SandboxUnavailableError("the AgentCore handle's signature does not match: refusing to attach")
        try:
            text = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
        except (ValueError, UnicodeDecodeError) as e:
            raise SandboxUnavailableError(f"malformed AgentCore handle: {e}") from e
        handle = cls.from_json(text)
        if handle.expires_at <= time.time():
            raise SandboxUnavailableError(f"the handle of AgentCore session {handle.session_id} has expired")
        return handle

    @classmethod
    def from_json(cls, text: str) -> AgentCoreHandle:
        """Parse `to_json` output; a malformed handle is a `SandboxUnavailableError`."""
        try:
            raw = json.loads(text)
            return cls(
                code_interpreter_id=str(raw["code_interpreter_id"]),
                session_id=str(raw["session_id"]),
                directory=str(raw["directory"]),
                offset=int(raw["offset"]),
                next_push=int(raw["next_push"]),
                expires_at=float(raw["expires_at"]),
            )
        except (ValueError, KeyError, TypeError) as e:
            raise SandboxUnavailableError(f"malformed AgentCore handle: {e}") from e


class AgentCoreSandbox(BaseSandbox):
    """One session whose runner has said hello; the byte pipe runs over its API (see the module doc)."""

    def __init__(
        self,
        *,
        backend: AgentCoreSandboxBackend,
        session_id: str,
        directory: str,
        info: SandboxInfo,
        expires_at: float,
        offset: int,
        next_push: int,
    ) -> None:
        self.info = info
        self.session_id = session_id
        self.directory = directory
        self.expires_at = expires_at
        self._backend = backend
        self._api = backend.api
        self._config = backend.settings.agentcore
        self._inbox_send, self._inbox = anyio.create_memory_object_stream[bytes](_INBOX_CHUNKS)
        self._pending = b""
        self._fetched = offset
        self._delivered = offset
        self._next_push = next_push
        self._outbox = bytearray()
        self._outbox_ready = anyio.Event()
        self._pushed = anyio.Event()
        self._pushing = False
        self._exit: int | None = None
        self._stderr = ""
        self._channel_error: str | None = None
        self._scope: anyio.CancelScope | None = None
        self._closed = False
        self.polls = 0
        self.pushes = 0

    def _relay(self, *args: object) -> str:
        return " ".join([self._config.python, "-I", "-S", f"{self.directory}/relay.py", *map(str, args)])

    @property
    def api_calls(self) -> tuple[int, int]:
        """(polls, pushes) this sandbox's channel has made."""
        return self.polls, self.pushes

    # ---- the byte pipe the executor sees ------------------------------------------------------
    async def send(self, data: bytes) -> None:
        """Queue bytes for the runner; the pusher sends them (batched with whatever else is queued)."""
        if self._closed or self._channel_error is not None or self._exit is not None:
            raise anyio.BrokenResourceError(self._channel_error or "the sandbox runner is gone")
        self._outbox += data
        self._outbox_ready.set()
        while len(self._outbox) > _MAX_OUTBOX_BYTES and self._channel_error is None and not self._closed:
            await self._pushed.wait()

    async def receive(self, max_bytes: int = 65536) -> bytes:
        """The runner's next output bytes; `anyio.EndOfStream` once it exited (or the channel failed)."""
        if not self._pending:
            self._pending = await self._inbox.receive()
        chunk, self._pending = self._pending[:max_bytes], self._pending[max_bytes:]
        self._delivered += len(chunk)
        return chunk

    async def diagnostics(self) -> str:
        """The runner's stderr (reported with its exit), and what went wrong with the channel."""
        parts = [self._stderr] if self._stderr else []
        if self._channel_error:
            parts.append(f"[AgentCore channel] {self._channel_error}")
        return "\n".join(parts)

    async def exit_status(self) -> int | None:
        """The runner's exit code once a poll has reported it."""
        return self._exit

    async def aclose(self) -> None:
        """Stop the channel and the session (shielded; idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._scope is not None:
            self._scope.cancel()
        self._inbox_send.close()
        self._inbox.close()
        with anyio.CancelScope(shield=True):
            await self._backend.stop_session(self.session_id)

    async def detach(self) -> AgentCoreHandle:
        """Stop this process's side of the channel, leave the session running, and return its handle.

        Queued bytes are pushed first. Output already fetched but not yet consumed is fetched again
        by whoever attaches (the handle's offset is what the executor consumed).
        """
        with anyio.move_on_after(_DETACH_FLUSH_S):
            while self._outbox or self._pushing:
                if self._channel_error is not None:
                    break
                await self._pushed.wait()
        if self._outbox:
            raise SandboxUnavailableError(
                f"AgentCore session {self.session_id}: queued frames could not be pushed; not detached"
            )
        handle = self.handle()
        self._closed = True
        if self._scope is not None:
            self._scope.cancel()
        self._inbox_send.close()
        self._inbox.close()
        self._backend.forget(self.session_id)
        return handle

    def handle(self) -> AgentCoreHandle:
        """The channel's state right now (see `AgentCoreHandle`)."""
        return AgentCoreHandle(
            code_interpreter_id=self._api.code_interpreter_id,
            session_id=self.session_id,
            directory=self.directory,
            offset=self._delivered,
            next_push=self._next_push,
            expires_at=self.expires_at,
        )

    async def boot(self) -> None:
        """Ship the bridge and the relay, start the runner through the relay, and read its hello."""
        sources = await anyio.to_thread.run_sync(_runtime_sources)  # read from disk once, then cached
        files: list[dict[str, Any]] = [{"path": f"{self.directory}/{path}", "text": text} for path, text in sources]
        written = await self._api.invoke(self.session_id, "writeFiles", {"content": files})
        self._check(written, "writeFiles")
        started = await self._api.invoke(
            self.session_id, "startCommandExecution", {"command": self._relay("serve", self.directory)}
        )
        if started.is_error:
            raise SandboxUnavailableError(
                f"AgentCore session {self.session_id}: the relay did not start: {started.text[-500:]}"
            )
        await self._await_hello()

    async def _await_hello(self) -> None:
        decoder = FrameDecoder(max_frame_bytes=HELLO_MAX_BYTES, nonce=HELLO_NONCE)
        offset = 0
        while True:
            data, code, stderr = await self.poll(offset, wait_s=min(5.0, self._config.poll_wait_s))
            offset += len(data)
            try:
                frames = decoder.feed(data)
            except FrameError as e:
                raise SandboxUnavailableError(
                    f"AgentCore session {self.session_id}: the runner did not start properly: {e}"
                ) from None
            if frames:
                _, message = frames[0]
                if len(frames) > 1 or decoder.buffered or message.get("type") != "hello":
                    raise SandboxUnavailableError(
                        f"AgentCore session {self.session_id}: the runner sent {message.get('type')!r} "
                        "instead of one hello"
                    )
                if message.get("protocol") != PROTOCOL_VERSION:
                    raise SandboxUnavailableError(
                        f"AgentCore session {self.session_id}: the runner speaks protocol "
                        f"{message.get('protocol')!r}, not {PROTOCOL_VERSION}"
                    )
                self._fetched = self._delivered = offset
                return
            if code is not None:
                raise SandboxUnavailableError(
                    f"AgentCore session {self.session_id}: the runner exited before it was ready "
                    f"(exit code {code}): {stderr.strip()[-2000:]}"
                )

    # ---- the channel ---------------------------------------------------------------------------
    async def run_channel(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Poll and push until the runner exits, the channel fails or the sandbox is closed."""
        with anyio.CancelScope() as scope:
            self._scope = scope
            task_status.started()
            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._guard, self._push_loop, tg)
                    await self._guard(self._poll_loop, tg)
                    tg.cancel_scope.cancel()  # the runner is done (or the channel failed): nothing more to push
            finally:
                self._pushed.set()  # a sender waiting for room sees the failure
                self._inbox_send.close()

    async def _guard(self, loop: Callable[[], Awaitable[None]], tg: TaskGroup) -> None:
        """Run one loop of the channel; its failure ends the channel (the executor then sees the end of output)."""
        try:
            await loop()
        except SandboxError as e:
            if self._channel_error is None:
                self._channel_error = str(e)
                logger.warning("%s", e)
            tg.cancel_scope.cancel()

    async def _poll_loop(self) -> None:
        while True:
            data, code, stderr = await self.poll(self._fetched, wait_s=self._config.poll_wait_s)
            if data:
                self._fetched += len(data)
                try:
                    await self._inbox_send.send(data)
                except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                    return  # closed meanwhile
            if code is not None:
                self._stderr = stderr
                self._exit = code
                return

    async def _push_loop(self) -> None:
        while True:
            await self._outbox_ready.wait()
            self._outbox_ready = anyio.Event()
            while self._outbox:
                self._pushing = True
                data = bytes(self._outbox[:_MAX_PUSH_BYTES])
                del self._outbox[: len(data)]
                seq = self._next_push
                self._next_push += 1
                await self._push(seq, data)
                self._pushing = False
                self._pushed.set()
                self._pushed = anyio.Event()

    async def poll(self, offset: int, *, wait_s: float) -> tuple[bytes, int | None, str]:
        """One long poll: (bytes past `offset`, the runner's exit code once all is read, its stderr tail)."""
        self.polls += 1
        max_bytes = self._config.max_poll_bytes
        command = self._relay("poll", self.directory, offset, int(wait_s * 1000), max_bytes)
        result = await self._api.invoke(self.session_id, "executeCommand", {"command": command})
        self._check(result, "poll")
        # The reply comes from inside the session: untrusted. Bound and check it before use.
        if len(result.stdout) > max_bytes * 2 + _STDERR_CHARS * 2 + 4096:
            raise SandboxUnavailableError(f"AgentCore session {self.session_id}: oversized poll reply")
        try:
            reply = json.loads(result.stdout)
            data = base64.b64decode(reply["data"], validate=True)
            code = reply.get("exit")
            stderr = base64.b64decode(reply.get("stderr") or "", validate=True).decode("utf-8", "replace")
        # RecursionError: a reply nested too deep (a relay the code rewrote); escaping the channel's
        # task it would end the backend's task group, every other session's channel with it.
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError, binascii.Error) as e:
            raise SandboxUnavailableError(
                f"AgentCore session {self.session_id}: malformed poll reply ({e}): {result.stdout[:200]!r}"
            ) from e
        if len(data) > max_bytes or not (code is None or (type(code) is int and _EXIT_MIN <= code <= _EXIT_MAX)):
            raise SandboxUnavailableError(f"AgentCore session {self.session_id}: poll reply out of bounds")
        return data, code, stderr[-_STDERR_CHARS:]

    async def _push(self, seq: int, data: bytes) -> None:
        self.pushes += 1
        if len(data) <= self._config.inline_push_bytes:
            payload = base64.b64encode(data).decode("ascii")
        else:
            staged = f"push-{seq}.bin"
            written = await self._api.invoke(
                self.session_id, "writeFiles", {"content": [{"path": f"{self.directory}/{staged}", "blob": data}]}
            )
            self._check(written, "writeFiles")
            payload = "@" + staged
        result = await self._api.invoke(
            self.session_id, "executeCommand", {"command": self._relay("push", self.directory, seq, payload)}
        )
        self._check(result, "push")
        # "gone": the runner has exited; the poller reports its exit.

    def _check(self, result: InvokeResult, what: str) -> None:
        _check(result, self.session_id, what)


class AgentCoreSandboxBackend(BaseSandboxBackend):
    """Hands out fresh AgentCore Code Interpreter sessions whose runner has said hello.

    Use it as an async context manager: entering builds the boto3 client and starts the pool's
    refill task and the task group the channels run in; leaving stops every session it still owns.
    """

    name = "agentcore"

    def __init__(self, settings: SandboxSettings, limits: ExecutionLimits) -> None:
        self.settings = settings
        self.limits = limits
        self.api = AgentCoreApi(settings.agentcore)
        self._host = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:40] or "host"
        self._pidns = "0"
        """Our pid namespace's inode ("0": unknown); set on entering, see `reap_orphans`."""
        self._live: set[str] = set()
        self._sandboxes: dict[str, AgentCoreSandbox | ConnectBackSandbox] = {}
        """Sandboxes not yet closed (closed with the backend: their channels' streams too)."""
        self._tg: TaskGroup | None = None
        self._pool: WarmPool[AgentCoreSandbox | ConnectBackSandbox] | None = None
        self._listener: ConnectBackListener | None = None
        self._closed = False

    @property
    def live_sessions(self) -> frozenset[str]:
        """Sessions started and not yet stopped (pooled, running, or being started)."""
        return frozenset(self._live)

    @property
    def connect_back(self) -> ConnectBackListener | None:
        """The connect-back channel's listener (None with the session-api channel)."""
        return self._listener

    @property
    def pool_ready(self) -> int:
        """Started sessions waiting in the pool."""
        return self._pool.ready if self._pool else 0

    async def __aenter__(self) -> Self:
        identity = await anyio.to_thread.run_sync(current_identity)  # reads /proc once
        self._pidns = re.sub(r"[^0-9]", "", identity.pidns or "")[:20] or "0"
        await self.api.client()
        await self.reap_orphans()
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        if self.settings.agentcore.channel == "connect-back":
            self._listener = ConnectBackListener(self.settings.agentcore)
            try:
                await self._listener.start(self._tg)
            except BaseException:
                await self.aclose()
                raise
        if self.settings.pool_size:
            self._pool = WarmPool(
                size=self.settings.pool_size,
                start=partial(self._start, "warm"),
                discard=_close,
                is_alive=self._fresh_enough,
                refill_delay_s=self.settings.pool_refill_delay_s,
            )
            self._tg.start_soon(self._pool.run, self._tg)
        return self

    def session_name(self) -> str:
        """`ptc-gateway-<host>-<pid namespace>-<pid>-<random>`: lets a later gateway here find our orphans."""
        return f"{_NAME_PREFIX}{self._host}-{self._pidns}-{os.getpid()}-{uuid.uuid4().hex[:12]}"

    async def reap_orphans(self) -> int:
        """Stop READY sessions started by gateways in our host and pid namespace that are gone. Returns the count.

        Without `ListCodeInterpreterSessions` permission it logs why and reaps nothing: those
        sessions then end with their lifetime (`session_timeout_s`).
        """
        try:
            sessions = await self.api.ready_sessions()
        except SandboxError as e:
            logger.warning("could not list AgentCore sessions to reap orphans: %s", e)
            return 0
        orphans: list[str] = []
        for session_id, name in sessions:
            match = _NAME.fullmatch(name)
            # A pid means something only in its own namespace (see gateway/sandbox/_owner.py): a gateway
            # in another container, even one with our host name, is never judged by our pids.
            if match is None or match["host"] != self._host or match["pidns"] != self._pidns:
                continue
            pid = int(match["pid"])
            if pid != os.getpid() and not pid_alive(pid):
                orphans.append(session_id)
        if orphans:
            logger.info("stopping %d orphaned AgentCore session(s) of dead gateways", len(orphans))
            async with anyio.create_task_group() as tg:
                for session_id in orphans:
                    tg.start_soon(self.api.stop_session, session_id)
        return len(orphans)

    def _fresh_enough(self, sandbox: AgentCoreSandbox | ConnectBackSandbox) -> bool:
        return sandbox.expires_at - time.time() > self.limits.execution_timeout_s + _POOL_MARGIN_S

    async def acquire(self) -> BaseSandbox:
        """A pooled session when one is ready and fresh enough, else a freshly started one."""
        if self._tg is None or self._closed:
            raise SandboxUnavailableError("the AgentCore backend is not open (use `async with backend:`)")
        began = anyio.current_time()
        sandbox = self._pool.take() if self._pool is not None else None
        if sandbox is not None:
            sandbox.info = dataclasses.replace(
                sandbox.info, start="warm", start_duration_s=anyio.current_time() - began
            )
        else:
            sandbox = await self._start("cold")
        if isinstance(sandbox, AgentCoreSandbox):  # connect-back sandboxes need no channel task
            try:
                await self._tg.start(sandbox.run_channel)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await sandbox.aclose()
                raise
        return sandbox

    async def attach(self, handle: AgentCoreHandle) -> AgentCoreSandbox:
        """Re-attach to the session of a running execution (detached here or in another process)."""
        if self._tg is None or self._closed:
            raise SandboxUnavailableError("the AgentCore backend is not open (use `async with backend:`)")
        if self._listener is not None:
            raise SandboxUnavailableError("re-attaching by handle needs the session-api channel (docs/agentcore.md)")
        if handle.code_interpreter_id != self.api.code_interpreter_id:
            raise SandboxUnavailableError(
                f"the handle is for code interpreter {handle.code_interpreter_id!r}, "
                f"not {self.api.code_interpreter_id!r}"
            )
        if await self.api.session_status(handle.session_id) != "READY":
            raise SandboxUnavailableError(f"AgentCore session {handle.session_id} is no longer running")
        self._live.add(handle.session_id)
        sandbox = AgentCoreSandbox(
            backend=self,
            session_id=handle.session_id,
            directory=handle.directory,
            info=SandboxInfo(backend=self.name, id=handle.session_id, start="warm", start_duration_s=0.0),
            expires_at=handle.expires_at,
            offset=handle.offset,
            next_push=handle.next_push,
        )
        self._sandboxes[handle.session_id] = sandbox
        await self._tg.start(sandbox.run_channel)
        return sandbox

    async def claim(self, handle: AgentCoreHandle, token: str) -> bool:
        """Claim a detached execution's resume once, in its session: True the first time, False after.

        Whoever carries handles decides the token (one per detach); a second resume of the same detach
        must not drive the runner twice.
        """
        command = " ".join(
            [
                self.settings.agentcore.python,
                "-I",
                "-S",
                f"{handle.directory}/relay.py",
                "claim",
                handle.directory,
                token,
            ]
        )
        result = await self.api.invoke(handle.session_id, "executeCommand", {"command": command})
        if result.exit_code == _EXIT_CLAIMED:
            return False
        _check(result, handle.session_id, "claim")
        return True

    async def _start(self, kind: str) -> AgentCoreSandbox | ConnectBackSandbox:
        """Start a session, ship the runtime, start the runner and read its hello."""
        if self._listener is not None:
            return await self._start_connect_back(kind, self._listener)
        began = anyio.current_time()
        config = self.settings.agentcore
        session_id, _ = await self.api.start_session(name=self.session_name(), timeout_s=config.session_timeout_s)
        expires_at = time.time() + config.session_timeout_s
        self._live.add(session_id)
        directory = f"ptc-{uuid.uuid4().hex[:16]}"
        sandbox = AgentCoreSandbox(
            backend=self,
            session_id=session_id,
            directory=directory,
            info=SandboxInfo(backend=self.name, id=session_id, start="cold", start_duration_s=0.0),
            expires_at=expires_at,
            offset=0,
            next_push=1,
        )
        self._sandboxes[session_id] = sandbox
        try:
            with anyio.fail_after(self.settings.start_timeout_s):
                await sandbox.boot()
        except TimeoutError:
            with anyio.CancelScope(shield=True):
                await sandbox.aclose()
            raise SandboxUnavailableError(
                f"AgentCore session {session_id}: the runner did not start within {self.settings.start_timeout_s:g} s"
            ) from None
        except BaseException:
            with anyio.CancelScope(shield=True):
                await sandbox.aclose()
            raise
        sandbox.info = dataclasses.replace(
            sandbox.info, start="warm" if kind == "warm" else "cold", start_duration_s=anyio.current_time() - began
        )
        return sandbox

    async def _start_connect_back(self, kind: str, listener: ConnectBackListener) -> ConnectBackSandbox:
        """Option 2: start a session whose runner connects back to our listener with a fresh token."""
        began = anyio.current_time()
        config = self.settings.agentcore
        session_id, _ = await self.api.start_session(name=self.session_name(), timeout_s=config.session_timeout_s)
        expires_at = time.time() + config.session_timeout_s
        self._live.add(session_id)
        directory = f"ptc-{uuid.uuid4().hex[:16]}"
        connection = listener.expect(self.settings.start_timeout_s)
        sandbox: ConnectBackSandbox | None = None
        try:
            with anyio.fail_after(self.settings.start_timeout_s):
                sources = await anyio.to_thread.run_sync(_runtime_sources)
                files: list[dict[str, Any]] = [{"path": f"{directory}/{path}", "text": text} for path, text in sources]
                files.append({"path": f"{directory}/ca.pem", "text": listener.ca_pem})
                files.append({"path": f"{directory}/token", "blob": connection.token.encode("ascii")})
                _check(await self.api.invoke(session_id, "writeFiles", {"content": files}), session_id, "writeFiles")
                command = " ".join(
                    [config.python, "-I", "-S", f"{directory}/relay.py", "connect", directory, listener.address]
                    + [str(listener.port)]
                )
                started = await self.api.invoke(session_id, "startCommandExecution", {"command": command})
                if started.is_error:
                    raise SandboxUnavailableError(
                        f"AgentCore session {session_id}: the relay did not start: {started.text[-500:]}"
                    )
                await connection.connected.wait()
                sandbox = ConnectBackSandbox(
                    api=self.api,
                    session_id=session_id,
                    directory=directory,
                    info=SandboxInfo(backend=self.name, id=session_id, start="cold", start_duration_s=0.0),
                    expires_at=expires_at,
                    connection=connection,
                    task_id=started.task_id,
                    stop=self.stop_session,
                )
                self._sandboxes[session_id] = sandbox
                await await_hello(sandbox)
        except TimeoutError:
            await self._abandon_start(session_id, connection, sandbox)
            raise SandboxUnavailableError(
                f"AgentCore session {session_id}: the runner did not connect back to "
                f"{listener.address}:{listener.port} within {self.settings.start_timeout_s:g} s (the code "
                "interpreter needs PUBLIC or VPC network mode, and that address must be reachable from it)"
            ) from None
        except BaseException:
            await self._abandon_start(session_id, connection, sandbox)
            raise
        finally:
            listener.forget(connection)
        sandbox.info = dataclasses.replace(
            sandbox.info, start="warm" if kind == "warm" else "cold", start_duration_s=anyio.current_time() - began
        )
        return sandbox

    async def _abandon_start(self, session_id: str, connection: Connection, sandbox: ConnectBackSandbox | None) -> None:
        with anyio.CancelScope(shield=True):
            connection.done.set()
            if sandbox is not None:
                await sandbox.aclose()
            else:
                await self.stop_session(session_id)

    async def stop_session(self, session_id: str) -> None:
        """Stop a session we own (retried; one already gone is fine). Failures are logged: the lifetime ends it."""
        self._sandboxes.pop(session_id, None)
        if session_id not in self._live:
            return  # stopped already (or detached into a handle)
        try:
            await self.api.stop_session(session_id)
        except SandboxError:
            logger.exception("could not stop AgentCore session %s; its lifetime will end it", session_id)
        finally:
            self._live.discard(session_id)

    def forget(self, session_id: str) -> None:
        """No longer own this session (it was detached into a handle)."""
        self._live.discard(session_id)
        self._sandboxes.pop(session_id, None)

    async def aclose(self) -> None:
        """Stop the channels and the pool, then stop every session still owned."""
        if self._closed:
            return
        self._closed = True
        if self._tg is not None:
            task_group, self._tg = self._tg, None
            task_group.cancel_scope.cancel()
            await task_group.__aexit__(None, None, None)
        with anyio.CancelScope(shield=True):
            if self._listener is not None:
                await self._listener.aclose()
            if self._pool is not None:
                await self._pool.aclose()
            async with anyio.create_task_group() as tg:
                for sandbox in list(self._sandboxes.values()):
                    tg.start_soon(_close, sandbox)
                for session_id in self._live - set(self._sandboxes):
                    tg.start_soon(self.stop_session, session_id)
            await self.api.aclose()


def _check(result: InvokeResult, session_id: str, what: str) -> None:
    """A failed tool result (a result, not an exception) becomes a clear error naming the session."""
    if result.is_error or (result.exit_code or 0) != 0:
        detail = (result.stderr or result.text or result.stdout)[-500:]
        raise SandboxUnavailableError(
            f"AgentCore session {session_id}: the relay's {what} failed "
            f"(exit code {result.exit_code}): {detail.strip()}"
        )


async def _close(sandbox: AgentCoreSandbox | ConnectBackSandbox) -> None:
    await sandbox.aclose()
