"""Removal of used sandboxes off the critical path: bounded, owned, drained on close.

An execution's result should not wait for the engine to kill and remove its container (about
50-75 ms of engine work on a small host). The backend hands the id of a used container to a
`Removals` and returns at once; the removal runs as a task in the backend's task group.

Bounded: at most `max_pending` removals exist at a time (a caller retiring one more waits for a
slot, so under load used containers pile up neither as tasks in memory nor as containers on the
engine); the owner's `remove` bounds its own engine calls. Closing waits for every pending
removal (shielded), so a gateway that shuts down with removals pending leaves none.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio
from anyio.abc import TaskGroup

__all__ = ["Removals"]

logger = logging.getLogger(__name__)


class Removals:
    """Kills and removes used sandboxes in the background of a task group its owner runs."""

    def __init__(
        self,
        *,
        remove: Callable[[str], Awaitable[None]],
        max_pending: int = 8,
    ) -> None:
        self._remove = remove
        self._slots = anyio.Semaphore(max_pending)
        self._pending: set[str] = set()
        self._idle = anyio.Event()
        self._idle.set()
        self._freed = anyio.Event()
        self._tg: TaskGroup | None = None
        self.max_pending = max_pending

    @property
    def pending(self) -> frozenset[str]:
        """Ids handed over and not yet removed."""
        return frozenset(self._pending)

    def start(self, task_group: TaskGroup) -> None:
        """Run removals as tasks of `task_group` from now on (before, and after `drain`, they run inline)."""
        self._tg = task_group

    async def retire(self, sandbox_id: str) -> None:
        """Hand over a used sandbox; returns once a removal slot is taken (at once unless at the bound)."""
        if self._tg is None:
            await self._run(sandbox_id)
            return
        await self._slots.acquire()
        tg = self._current()
        if tg is None:  # drained while this caller waited for a slot
            self._slots.release()
            await self._run(sandbox_id)
            return
        self._pending.add(sandbox_id)
        self._idle = anyio.Event() if self._idle.is_set() else self._idle
        tg.start_soon(self._background, sandbox_id, name=f"remove {sandbox_id[:12]}")

    def _current(self) -> TaskGroup | None:
        return self._tg

    async def _background(self, sandbox_id: str) -> None:
        try:
            await self._run(sandbox_id)
        finally:
            self._pending.discard(sandbox_id)
            self._slots.release()
            self._freed.set()
            if not self._pending:
                self._idle.set()

    async def _run(self, sandbox_id: str) -> None:
        with anyio.CancelScope(shield=True):
            try:
                await self._remove(sandbox_id)
            except Exception:  # a background task's boundary: one failed removal must not end the backend
                logger.exception("removing sandbox %s failed", sandbox_id[:12])

    async def settle(self) -> None:
        """Wait until no removal is pending (more may be handed over afterwards)."""
        await self._idle.wait()

    async def room(self) -> None:
        """Wait until a removal slot is free: the warm pool starts no container while removals are at the bound."""
        while len(self._pending) >= self.max_pending:
            self._freed = anyio.Event() if self._freed.is_set() else self._freed
            await self._freed.wait()

    async def drain(self) -> None:
        """Stop taking background work and wait (shielded) until every pending removal is done."""
        self._tg = None
        with anyio.CancelScope(shield=True):
            await self._idle.wait()
