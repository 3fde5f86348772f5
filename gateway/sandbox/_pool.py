"""A warm pool: sandboxes started ahead of time so an execution starts none.

Generic over what it pools; the Docker backend gives it a `start` function (create, start and
wait for the runner's hello) and a `discard` function (kill and remove). Sandboxes are handed out
once and never come back. The pool refills in the background inside a task group its owner runs.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, TypeVar

import anyio
from anyio.abc import TaskGroup

__all__ = ["WarmPool"]

logger = logging.getLogger(__name__)

S = TypeVar("S")

_RETRY_MIN_S = 0.5
_RETRY_MAX_S = 10.0


class WarmPool(Generic[S]):
    """Keeps up to `size` started sandboxes ready; `take()` hands one out without waiting."""

    def __init__(
        self,
        *,
        size: int,
        start: Callable[[], Awaitable[S]],
        discard: Callable[[S], Coroutine[Any, Any, None]],
        is_alive: Callable[[S], bool],
        parallel_starts: int = 2,
        refill_delay_s: float = 0.0,
        room: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.size = size
        self._start = start
        self._discard = discard
        self._is_alive = is_alive
        self._ready: deque[S] = deque()
        self._starting = 0
        self._parallel = max(1, parallel_starts)
        self._refill_delay_s = refill_delay_s
        self._room = room
        """Waits until the owner has room for one more sandbox (used ones still being removed count)."""
        self._wake = anyio.Event()
        self._closed = False
        self._discard_later: list[S] = []

    @property
    def ready(self) -> int:
        """Sandboxes waiting to be taken."""
        return len(self._ready)

    def take(self) -> S | None:
        """A ready sandbox, or None when the pool is empty. Wakes the refill loop."""
        while self._ready:
            sandbox = self._ready.popleft()
            self._wake.set()
            if self._is_alive(sandbox):
                return sandbox
            logger.warning("a pooled sandbox died while idle; discarding it")
            self._discard_later.append(sandbox)
        self._wake.set()
        return None

    async def run(self, task_group: TaskGroup) -> None:
        """Refill forever (until cancelled): call it with `task_group.start_soon(pool.run, task_group)`."""
        failures = 0
        while not self._closed:
            for dead in self._discard_later:
                task_group.start_soon(self._discard, dead)
            self._discard_later.clear()
            missing = self.size - len(self._ready) - self._starting
            if missing <= 0:
                await self._wake.wait()
                # Starting a replacement costs CPU (engine, runc, interpreter start); wait a moment so
                # it does not compete with the start of the execution that just took a sandbox.
                await anyio.sleep(self._refill_delay_s)
                self._wake = anyio.Event()
                continue
            if self._room is not None:
                await self._room()
            batch = min(missing, self._parallel)
            results: list[bool] = []
            async with anyio.create_task_group() as starts:
                for _ in range(batch):
                    starts.start_soon(self._start_one, results)
            if all(results):
                failures = 0
                continue
            failures += 1
            delay = min(_RETRY_MAX_S, _RETRY_MIN_S * math.pow(2, failures - 1))
            logger.warning("warm pool: could not start a sandbox; retrying in %.1f s", delay)
            await anyio.sleep(delay)

    async def _start_one(self, results: list[bool]) -> None:
        self._starting += 1
        try:
            sandbox = await self._start()
        except Exception:  # noqa: BLE001 - a background task's boundary: a failed start must not kill the pool's owner
            logger.exception("warm pool: sandbox start failed")
            results.append(False)
            return
        finally:
            self._starting -= 1
        if self._closed:
            with anyio.CancelScope(shield=True):
                await self._discard(sandbox)
            return
        self._ready.append(sandbox)
        results.append(True)

    async def aclose(self) -> None:
        """Discard every ready sandbox (the owner cancels `run` first). Shielded."""
        self._closed = True
        with anyio.CancelScope(shield=True):
            pending = [*self._ready, *self._discard_later]
            self._ready.clear()
            self._discard_later.clear()
            async with anyio.create_task_group() as tg:
                for sandbox in pending:
                    tg.start_soon(self._discard, sandbox)
