"""Per-sandbox uids: each live sandbox of a backend runs as a uid no other live sandbox of it has.

Per-uid kernel quotas (POSIX message queue bytes, inotify instances and watches, pipe buffer pages)
are counted per user, not per container; one uid per sandbox keeps one execution from exhausting
them for the next, and closes that covert channel between executions.
"""

from __future__ import annotations

import random

from gateway.errors import SandboxUnavailableError

__all__ = ["UidPool"]


class UidPool:
    """Hands out uids from an inclusive range, never one that is in use; `release` returns it."""

    def __init__(self, first: int, last: int) -> None:
        self.first = first
        self.last = last
        self._in_use: set[int] = set()
        self._random = random.Random()

    @property
    def in_use(self) -> frozenset[int]:
        """The uids handed out and not yet released."""
        return frozenset(self._in_use)

    def allocate(self) -> int:
        """A free uid (random, so uids are not reused at once). Raises when the range is exhausted."""
        size = self.last - self.first + 1
        if len(self._in_use) >= size:
            raise SandboxUnavailableError(
                f"all {size} uids of [sandbox] uid_range are in use by live sandboxes; widen the range"
            )
        while True:
            uid = self.first + self._random.randrange(size)
            if uid not in self._in_use:
                self._in_use.add(uid)
                return uid

    def release(self, uid: int) -> None:
        """Return a uid once its sandbox is removed (idempotent)."""
        self._in_use.discard(uid)
