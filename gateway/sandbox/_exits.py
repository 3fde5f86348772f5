"""How this backend's containers ended, from the engine's event stream.

Sandbox containers are created with `AutoRemove`: once one exits (its execution is over, or the
gateway died and the runner saw its stdin close) the engine removes it by itself, so even a
SIGKILLed gateway leaves nothing behind for long. The price is that a removed container can no
longer be inspected for its exit code or whether the OOM killer ended it. This watcher follows
the engine's `die` and `oom` events for our owner label (one stream, one worker thread, for the
backend's life) and remembers the outcome of each container until the backend forgets it. It
also reports `destroy` events, so the backend need not call the engine to remove a container the
engine has already removed by itself.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

import anyio
import anyio.to_thread
from anyio.abc import TaskStatus

from gateway.sandbox._engine import EngineApi, close_event_stream, engine_errors

__all__ = ["ContainerExit", "ExitWatch"]

logger = logging.getLogger(__name__)

MAX_REMEMBERED = 1024
"""Outcomes kept at most (the backend forgets each once the container is removed; this bounds a leak)."""


@dataclass(frozen=True, slots=True)
class ContainerExit:
    """How one container ended."""

    code: int | None
    oom_killed: bool


class ExitWatch:
    """Follows `die`/`oom` events of containers labelled `label`; run it with `task_group.start(watch.run)`."""

    def __init__(self, api: EngineApi, *, label: str) -> None:
        self._api = api
        self._label = label
        self._exits: OrderedDict[str, ContainerExit] = OrderedDict()
        self._oom: set[str] = set()
        self._destroyed: OrderedDict[str, None] = OrderedDict()
        self._waiters: dict[str, anyio.Event] = {}

    def outcome(self, container_id: str) -> ContainerExit | None:
        """The container's exit, once the engine reported it."""
        return self._exits.get(container_id)

    def forget(self, container_id: str) -> None:
        """Drop what is known about a removed container."""
        self._exits.pop(container_id, None)
        self._oom.discard(container_id)
        self._destroyed.pop(container_id, None)
        self._waiters.pop(container_id, None)

    def destroyed(self, container_id: str) -> bool:
        """Whether the engine has reported the container removed (AutoRemove after it exited)."""
        return container_id in self._destroyed

    async def wait_destroyed(self, container_id: str) -> None:
        """Wait until the engine reports the container removed (bound it with a cancel scope)."""
        if container_id in self._destroyed:
            return
        await self._waiters.setdefault(container_id, anyio.Event()).wait()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Subscribe (then report started: no exit after that is missed), and record events until cancelled."""
        filters = {"type": ["container"], "event": ["die", "oom", "destroy"], "label": [self._label]}
        with engine_errors("following sandbox container events"):
            stream = await anyio.to_thread.run_sync(partial(self._api.events, decode=True, filters=filters))
        task_status.started()
        try:
            while True:
                # Abandoned on cancel: the thread is blocked reading the stream until `close` below ends it.
                event = await anyio.to_thread.run_sync(next, stream, None, abandon_on_cancel=True)
                if event is None:
                    logger.warning("the Docker engine closed its event stream; exit codes of later sandboxes are lost")
                    return
                self._record(event)
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(close_event_stream, stream)

    def _record(self, event: dict[str, Any]) -> None:
        actor = cast(dict[str, Any], event.get("Actor") or {})
        container_id = str(actor.get("ID") or event.get("id") or "")
        if not container_id:
            return
        action = event.get("Action")
        if action == "oom":
            self._oom.add(container_id)
            return
        if action == "destroy":
            self._destroyed[container_id] = None
            while len(self._destroyed) > MAX_REMEMBERED:
                self._destroyed.popitem(last=False)
            waiter = self._waiters.pop(container_id, None)
            if waiter is not None:
                waiter.set()
            return
        attributes = cast(dict[str, Any], actor.get("Attributes") or {})
        raw = str(attributes.get("exitCode", ""))
        code = int(raw) if re.fullmatch(r"-?[0-9]{1,10}", raw) else None
        self._exits[container_id] = ContainerExit(code=code, oom_killed=container_id in self._oom)
        self._oom.discard(container_id)
        while len(self._exits) > MAX_REMEMBERED:
            self._exits.popitem(last=False)
        if len(self._oom) > MAX_REMEMBERED:
            self._oom.clear()
