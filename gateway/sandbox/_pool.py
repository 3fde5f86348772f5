"""A warm pool: sandboxes started ahead of time so an execution starts none.

The pool grows with demand: each `take()` that finds it empty (an execution had to wait for a
cold start) raises its target by one, up to `max_size`; after `shrink_after_s` without a miss the
target steps back towards `size` and the surplus is discarded. So a burst of executions is served
from the pool after the first few misses, and an idle gateway keeps only `size` containers.

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
        max_size: int | None = None,
        shrink_after_s: float = 30.0,
    ) -> None:
        self.size = size
        self.max_size = max(size, max_size if max_size is not None else size)
        self._target = size
        self._shrink_after_s = shrink_after_s
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
    def target(self) -> int:
        """How many ready sandboxes the pool aims for now (between `size` and `max_size`)."""
        return self._target

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
        if self.size and self._target < self.max_size:
            self._target += 1  # demand outran the pool: keep one more ready from now on
            logger.info("warm pool: growing to %d", self._target)
        self._wake.set()
        return None

    async def run(self, task_group: TaskGroup) -> None:
        """Refill forever (until cancelled): call it with `task_group.start_soon(pool.run, task_group)`."""
        failures = 0
        while not self._closed:
            for dead in self._discard_later:
                task_group.start_soon(self._discard, dead)
            self._discard_later.clear()
            missing = self._target - len(self._ready) - self._starting
            if missing <= 0:
                with anyio.move_on_after(self._shrink_after_s if self._target > self.size else math.inf) as idle:
                    await self._wake.wait()
                if idle.cancelled_caught:
                    self._shrink(task_group)
                    continue
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

    def _shrink(self, task_group: TaskGroup) -> None:
        """No miss for a while: step the target back towards `size`, discarding the surplus."""
        self._target = max(self.size, self._target - 1)
        while len(self._ready) > self._target:
            task_group.start_soon(self._discard, self._ready.pop())

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
