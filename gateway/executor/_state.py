"""Per-execution state: output captures, pausable deadlines and the mutable record of one run."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncGenerator, Generator
from contextlib import asynccontextmanager, contextmanager
from typing import Literal

import anyio

from gateway.config import ExecutionLimits
from gateway.errors import ExecutionProgress, SandboxError
from gateway.executor._frames import DoneFrame
from gateway.sandbox import BaseSandbox

logger = logging.getLogger(__name__)

__all__ = ["Capture", "Deadline", "Fault", "Run"]


class Capture:
    """One output stream, kept up to a byte cap; the rest is only counted."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.kept = 0
        self.dropped = 0
        self._parts: list[str] = []

    def add(self, text: str) -> None:
        data = text.encode("utf-8", "replace")  # lone surrogates from a hostile runner become "?"
        room = self.limit - self.kept
        if len(data) <= room:
            self._parts.append(data.decode("utf-8"))
            self.kept += len(data)
            return
        head = data[: max(room, 0)].decode("utf-8", "ignore")
        self._parts.append(head)
        self.kept = self.limit
        self.dropped += len(data) - len(head.encode("utf-8"))

    def text(self, sandbox_dropped: int) -> tuple[str, bool]:
        dropped = self.dropped + sandbox_dropped
        text = "".join(self._parts)
        if dropped:
            separator = "" if not text or text.endswith("\n") else "\n"
            text += f"{separator}[... output truncated: {dropped} more bytes dropped (max_output_bytes={self.limit})]\n"
        return text, bool(dropped)

    def snapshot(self) -> tuple[str, int]:
        """(kept text, bytes dropped here) to carry a detached execution's output elsewhere."""
        return "".join(self._parts), self.dropped

    @classmethod
    def restored(cls, limit: int, text: str, dropped: int) -> Capture:
        """A capture holding what `snapshot` returned (cut to `limit`)."""
        capture = cls(limit)
        capture.add(text)
        capture.dropped += max(dropped, 0)
        return capture


Fault = tuple[Literal["timeout", "crash", "limit", "protocol"], SandboxError]


class Deadline:
    """A cancel scope's deadline that stops while somebody waits on a human (see `CallOptions.suspend`).

    Nested and concurrent pauses are counted: the clock runs again when the last one ends, with the
    time that was left when the first one began. Scopes registered with `follow` end a fixed time
    before this deadline, and stand still with it.
    """

    def __init__(self, scope: anyio.CancelScope) -> None:
        self._scope = scope
        self._depth = 0
        self._remaining = 0.0
        self._followers: dict[anyio.CancelScope, float] = {}

    def pause(self) -> None:
        if self._depth == 0:
            self._remaining = max(self._scope.deadline - anyio.current_time(), 0.0)
            self._scope.deadline = math.inf
            for follower in self._followers:
                follower.deadline = math.inf
        self._depth += 1

    def left(self) -> float:
        """Seconds left on the clock (what was left when it stopped, while it stands still)."""
        if self._depth:
            return self._remaining
        return max(self._scope.deadline - anyio.current_time(), 0.0)

    def resume(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._scope.deadline = anyio.current_time() + self._remaining
            for follower, before_s in self._followers.items():
                follower.deadline = self._scope.deadline - before_s

    @contextmanager
    def follow(self, before_s: float) -> Generator[anyio.CancelScope]:
        """A cancel scope whose deadline is `before_s` ahead of this one (paused with it)."""
        scope = anyio.CancelScope(deadline=self._scope.deadline - before_s if self._depth == 0 else math.inf)
        self._followers[scope] = before_s
        try:
            with scope:
                yield scope
        finally:
            del self._followers[scope]


class Run:
    """Mutable state of one execution (owned by one `execute` call)."""

    def __init__(self, *, nonce: str, limits: ExecutionLimits, sandbox: BaseSandbox | None = None) -> None:
        self.nonce = nonce
        self.sandbox = sandbox
        """Frozen while a human is asked (see `suspended`)."""
        self._suspensions = 0
        self._freeze_lock = anyio.Lock()
        self.started = False
        self.calls = 0
        """`call` frames accepted."""
        self.completed = 0
        self.result_bytes = 0
        self.in_flight: set[int] = set()
        self.done: DoneFrame | None = None
        self.fault: Fault | None = None
        self.stdout = Capture(limits.max_output_bytes)
        self.stderr = Capture(limits.max_output_bytes)
        self.send_lock = anyio.Lock(fast_acquire=True)
        self.limiter = anyio.CapacityLimiter(limits.max_concurrent_calls)
        self.t0 = anyio.current_time()
        self.deadline: Deadline | None = None
        """The execution's deadline, once the job is sent."""

    @asynccontextmanager
    async def suspended(self, call: Deadline) -> AsyncGenerator[None]:
        """Stop the execution's and one call's clocks, and freeze the sandbox, while a human is asked.

        Frozen, the code neither burns CPU nor makes progress while the question is open; it thaws
        when the last pending question is answered. The executor's hard cap still runs.
        """
        if self.deadline is not None:
            self.deadline.pause()
        call.pause()
        try:
            await self._freeze()
            yield
        finally:
            with anyio.CancelScope(shield=True):  # a cancelled wait still thaws (the sandbox is then removed)
                await self._thaw()
            call.resume()
            if self.deadline is not None:
                self.deadline.resume()

    async def _freeze(self) -> None:
        async with self._freeze_lock:
            self._suspensions += 1
            if self._suspensions == 1 and self.sandbox is not None:
                try:
                    await self.sandbox.freeze()
                except SandboxError as e:  # e.g. the runner just exited: the question is still asked
                    logger.warning("could not freeze sandbox %s while asking: %s", self.sandbox.info.id, e)

    async def _thaw(self) -> None:
        async with self._freeze_lock:
            self._suspensions -= 1
            if self._suspensions == 0 and self.sandbox is not None:
                try:
                    await self.sandbox.thaw()
                except SandboxError as e:
                    logger.warning("could not thaw sandbox %s: %s", self.sandbox.info.id, e)

    def elapsed(self) -> float:
        return anyio.current_time() - self.t0

    def progress(self) -> ExecutionProgress:
        return ExecutionProgress(
            started=self.started,
            elapsed_s=self.elapsed(),
            tool_calls_completed=self.completed,
            tool_calls_in_flight=len(self.in_flight),
        )
