"""Executions that can be detached from this process at a pause point and continued in another one.

The seam for callers whose paused executions must outlive the process (the proxy on a sandbox
backend that can detach, docs/proxy.md "Resuming on any replica"):

- `Executor.execute_detachable(code, toolbox=..., control=...)` runs like `execute`; when the
  caller decides the code is paused (every call in flight waits on somebody outside) it calls
  `control.detach(call_ids)`. At the next point where the executor is only waiting for the runner
  (no frame half-handled), it checks that exactly those calls are in flight, stops its tasks
  without a fault, detaches the sandbox (the session keeps running, the code keeps waiting) and
  returns a `Suspended`: the sandbox's handle and a `SuspendedRun`, exactly the state it needs to go on.
- `Executor.resume_detached(suspended_run, sandbox=attached, toolbox=..., results=..., control=...)`
  rebuilds the run on a sandbox re-attached from the handle, sends the results of the calls that
  were in flight as `result` frames and goes on as if nothing happened: further pauses, the final
  result, the sandbox closed at the end, the deadlines restored from what was left.

A `SuspendedRun` is plain data (`to_json` / `from_json`); whoever carries it between processes
must sign it (it holds the frame nonce) and bound its size.
"""

from __future__ import annotations

import hashlib
import json
import math
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import anyio

from gateway.config import ExecutionLimits
from gateway.errors import SandboxUnavailableError
from gateway.stubs import Toolbox

__all__ = [
    "CALL_ID",
    "DetachControl",
    "DetachableSandbox",
    "Suspended",
    "SuspendedRun",
    "current_call_id",
    "toolbox_digest",
]

CALL_ID: ContextVar[int | None] = ContextVar("ptc_call_id", default=None)
"""Set by the executor around each tool call: the `call` frame's id (see `current_call_id`)."""


def current_call_id() -> int | None:
    """The id of the `call` frame a tool source serves (what `DetachControl.detach` names).

    Set inside `BaseToolSource.call_tool` when the executor calls it, else None.
    """
    return CALL_ID.get()


class DetachableSandbox(Protocol):
    """A sandbox whose process-side channel can be let go while the runner keeps running."""

    async def detach(self) -> Any:  # the backend's handle (e.g. `AgentCoreHandle`)
        """Stop this process's side, leave the runner running, return the handle to re-attach with."""
        ...


def toolbox_digest(toolbox: Toolbox) -> str:
    """Identifies the catalog an execution runs against (a resume must bring the same one)."""
    data = json.dumps([toolbox.stubs, [repr(ns) for ns in toolbox.namespaces]], separators=(",", ":"))
    return hashlib.sha256(data.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True, kw_only=True)
class SuspendedRun:
    """What the executor needs to continue a detached execution (see the module doc)."""

    nonce: str
    catalog: str
    """`toolbox_digest` of the catalog the runner installed."""
    limits: dict[str, Any]
    """The execution's `ExecutionLimits` (it keeps them wherever it continues)."""
    started: bool
    calls: int
    """`call` frames accepted so far (counts against `max_tool_calls`)."""
    completed: int
    result_bytes: int
    pending: dict[int, str]
    """The calls in flight at the pause: frame id -> catalog tool id."""
    stdout: str
    stdout_dropped: int
    stderr: str
    stderr_dropped: int
    timeout_left_s: float
    """What was left of `execution_timeout_s` (its clock stood still while the calls waited)."""
    cap_left_s: float
    """What was left of the hard cap (timeout + max_approval_wait_s), which never stops."""
    elapsed_s: float
    detached_at: float = field(default=0.0)
    """Unix time of the detach: the hard cap also counts the time spent detached."""

    def execution_limits(self) -> ExecutionLimits:
        return ExecutionLimits.model_validate(self.limits)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> SuspendedRun:
        """Parse `to_json` output; anything malformed is a `SandboxUnavailableError`."""
        try:
            raw = json.loads(text)
            pending = {int(k): str(v) for k, v in dict(raw["pending"]).items()}
            return cls(
                nonce=str(raw["nonce"]),
                catalog=str(raw["catalog"]),
                limits=dict(raw["limits"]),
                started=bool(raw["started"]),
                calls=int(raw["calls"]),
                completed=int(raw["completed"]),
                result_bytes=int(raw["result_bytes"]),
                pending=pending,
                stdout=str(raw["stdout"]),
                stdout_dropped=int(raw["stdout_dropped"]),
                stderr=str(raw["stderr"]),
                stderr_dropped=int(raw["stderr_dropped"]),
                timeout_left_s=float(raw["timeout_left_s"]),
                cap_left_s=float(raw["cap_left_s"]),
                elapsed_s=float(raw["elapsed_s"]),
                detached_at=float(raw["detached_at"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise SandboxUnavailableError(f"malformed suspended execution state: {e}") from e


@dataclass(frozen=True, slots=True, kw_only=True)
class Suspended:
    """A detached execution: the sandbox's handle and the executor's state."""

    handle: Any
    run: SuspendedRun


class DetachControl:
    """Lets the caller ask a running `execute_detachable` to detach at its next quiet point."""

    def __init__(self, *, max_state_bytes: int) -> None:
        self.max_state_bytes = max_state_bytes
        """The executor declines to detach when the state's JSON would be larger (much output so far)."""
        self._wanted: frozenset[int] | None = None
        self._scope: anyio.CancelScope | None = None
        self._answered = anyio.Event()
        self._accepted = False

    async def detach(self, call_ids: frozenset[int]) -> bool:
        """Detach once exactly `call_ids` are in flight.

        False when the executor declined (other calls in flight, the execution ended, the sandbox
        cannot detach): the execution then simply goes on in this process.
        """
        self._wanted = call_ids
        self._answered = anyio.Event()
        self._accepted = False
        if self._scope is not None:
            self._scope.cancel()
        await self._answered.wait()
        return self._accepted

    # --- the executor's side -------------------------------------------------------------------
    def reading(self) -> anyio.CancelScope:
        """The scope the executor waits for the runner's bytes in (cancelled by `detach`)."""
        self._scope = anyio.CancelScope()  # a request made before this is seen by the caller's check
        return self._scope

    def wanted(self) -> frozenset[int] | None:
        return self._wanted

    def answer(self, accepted: bool) -> None:
        self._wanted = None
        self._accepted = accepted
        self._answered.set()

    def close(self) -> None:
        """The execution ended: a pending request is declined."""
        self._scope = None
        if self._wanted is not None:
            self.answer(False)


def left(deadline: float) -> float:
    """Seconds left until an anyio deadline (inf stays inf)."""
    return math.inf if math.isinf(deadline) else max(deadline - anyio.current_time(), 0.0)
