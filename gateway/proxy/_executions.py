"""Code executions that can pause on calls to the client's tools, and the store that holds them.

The seam with the executor is a tool source (`ClientToolSource`): a call to a client tool does
not reach any server; it is posted to the execution's `Rendezvous` and waits there (under
`CallOptions.suspend`, so the execution's and the call's clocks stand still) until the next HTTP
request brings the client's `tool_result`. The sandbox, the runner and the executor do not know
they were paused: the code is simply awaiting a slow tool. So a paused execution lives where its
executor task runs, in this process (see docs/proxy.md for what that means for replicas).

A paused execution's idle timer is its cancel scope's deadline: set when it pauses, lifted when
results arrive. When it fires, the executor kills and removes the sandbox and the store forgets
the execution. Every execution task runs in the store's task group, so closing the proxy ends them all.

On a backend whose sandboxes can detach (AgentCore's session-api channel) the execution is started
detachable (`CodeExecution.control`): at a pause the service asks it to `detach`; the executor lets
the sandbox go (still running, the code still waiting), the task ends with a `Suspended`, and the
state travels in the signed `container.id` to whichever replica gets the resume (`_service`).
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import anyio
from anyio.abc import TaskGroup

from gateway.executor import DetachControl, ExecutionResult, Suspended, current_call_id
from gateway.proxy._errors import ApiError
from gateway.tools import (
    BaseToolSource,
    CallOptions,
    JsonObject,
    JsonValue,
    TextContent,
    ToolRef,
    ToolResult,
    ToolSpec,
)

__all__ = ["ClientToolSource", "CodeExecution", "ExecutionStore", "PendingCall", "Rendezvous", "RoutingToolSource"]

logger = logging.getLogger(__name__)

MAX_PENDING_CALLS = 64
"""Client-tool calls one execution may have waiting at once (more fail in the code as `ToolError`)."""


@dataclass(slots=True, kw_only=True)
class PendingCall:
    """A call from the code to a client tool, waiting for the client's `tool_result`."""

    id: str
    name: str
    input: JsonObject
    answered: anyio.Event = field(default_factory=anyio.Event)
    result: ToolResult | None = None
    sent: bool = False
    """Already handed to the client in a response."""
    frame_id: int | None = None
    """The `call` frame it serves (what a detach names)."""


class Rendezvous:
    """Where client-tool calls from the code meet the results from the next request."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self._calls: dict[str, PendingCall] = {}
        self._wake = wake

    def post(self, name: str, arguments: JsonObject, *, frame_id: int | None = None) -> PendingCall | None:
        """Post one call (None when too many are waiting: the code then gets a `ToolError`)."""
        if len(self._calls) >= MAX_PENDING_CALLS:
            return None
        call = PendingCall(id=f"toolu_{secrets.token_hex(12)}", name=name, input=arguments, frame_id=frame_id)
        self._calls[call.id] = call
        self._wake()
        return call

    def forget(self, call: PendingCall) -> None:
        """The call is over (answered, or the execution ended)."""
        self._calls.pop(call.id, None)

    def unsent(self) -> list[PendingCall]:
        """Calls not handed to the client yet, marked as handed now."""
        calls = [call for call in self._calls.values() if not call.sent]
        for call in calls:
            call.sent = True
        return calls

    def waiting(self) -> list[PendingCall]:
        """Every call still waiting."""
        return [call for call in self._calls.values() if call.result is None]

    def answer(self, results: Mapping[str, ToolResult]) -> None:
        """Deliver the client's results; 400 unless they answer exactly the calls that were handed out."""
        check_answers({call.id for call in self._calls.values() if call.sent and call.result is None}, results)
        for tool_id, result in results.items():
            call = self._calls[tool_id]
            call.result = result
            call.answered.set()


def check_answers(expected: set[str], results: Mapping[str, ToolResult]) -> None:
    """400 unless `results` answer exactly the `expected` client calls."""
    if set(results) != expected:
        missing = sorted(expected - set(results))
        unknown = sorted(set(results) - expected)
        raise ApiError(
            "invalid_request_error",
            "messages: the last user turn must hold one tool_result for each pending programmatic tool call"
            + (f"; missing: {', '.join(missing)}" if missing else "")
            + (f"; not pending: {', '.join(u[:64] for u in unknown[:10])}" if unknown else ""),
        )


class ClientToolSource(BaseToolSource):
    """The client's tools (those whose `allowed_callers` name the code-execution tool) as a tool source.

    A call is posted to the rendezvous and waits for the client's result. For the first `settle_s`
    it waits as any slow tool does, so the runner can still send the other calls of the same
    `asyncio.gather`; after that it waits under `CallOptions.suspend`: the execution's clocks stop
    and the executor freezes the sandbox until the result comes.
    """

    def __init__(self, specs: Sequence[ToolSpec], rendezvous: Rendezvous, *, settle_s: float) -> None:
        self._specs = {spec.name: spec for spec in specs}
        self._rendezvous = rendezvous
        self._settle_s = settle_s

    async def list_tools(self) -> Sequence[ToolSpec]:
        return list(self._specs.values())

    async def call_tool(
        self, ref: ToolRef, arguments: Mapping[str, JsonValue], *, options: CallOptions | None = None
    ) -> ToolResult:
        spec = self._specs[ref.name]
        call = self._rendezvous.post(spec.name, dict(arguments), frame_id=current_call_id())
        if call is None:
            return ToolResult(content=(TextContent(text="too many pending client tool calls"),), is_error=True)
        try:
            with anyio.move_on_after(self._settle_s):
                await call.answered.wait()
            if not call.answered.is_set():
                suspend = (options or {}).get("suspend")
                if suspend is None:
                    await call.answered.wait()
                else:
                    async with suspend():  # the client's round trip is not the code's time
                        await call.answered.wait()
        finally:
            self._rendezvous.forget(call)
        assert call.result is not None
        return call.result


class RoutingToolSource(BaseToolSource):
    """One server key's calls to the client's tools, every other call to the fleet."""

    def __init__(self, fleet: BaseToolSource, client: BaseToolSource, *, client_server: str) -> None:
        self._fleet = fleet
        self._client = client
        self._client_server = client_server

    async def list_tools(self) -> Sequence[ToolSpec]:
        return [*await self._fleet.list_tools(), *await self._client.list_tools()]

    async def call_tool(
        self, ref: ToolRef, arguments: Mapping[str, JsonValue], *, options: CallOptions | None = None
    ) -> ToolResult:
        source = self._client if ref.server == self._client_server else self._fleet
        return await source.call_tool(ref, arguments, options=options)


ExecuteFn = Callable[[BaseToolSource], Awaitable[ExecutionResult | Suspended]]
"""Runs the code against a tool source (the fleet plus this execution's client tools)."""


class CodeExecution:
    """One run of model code that may pause on client-tool calls."""

    def __init__(self, *, tool_use_id: str, idle_s: float, control: DetachControl | None = None) -> None:
        self.id = secrets.token_hex(16)
        self.tool_use_id = tool_use_id
        """The `srvtoolu_` id of the `server_tool_use` block that started it."""
        self.idle_s = idle_s
        self.rendezvous = Rendezvous(self._on_call)
        self.result: ExecutionResult | None = None
        self.control = control
        """Set when the execution can be detached at a pause (see `detach`)."""
        self.suspended: Suspended | None = None
        """Set when it was detached: the sandbox's handle and the executor's state."""
        self.expired = False
        self.closed = anyio.Event()
        """Set once the execution has ended and its sandbox is gone."""
        self.expires_at = 0.0
        """Wall-clock expiry while paused (what `container.expires_at` says)."""
        self._scope = anyio.CancelScope()
        self._wake = anyio.Event()

    def _signal(self) -> None:
        self._wake.set()

    def _on_call(self) -> None:
        # The idle clock starts with the first waiting call, whether or not a request is there to
        # answer it (a client that went away must not leave the execution waiting forever).
        if math.isinf(self._scope.deadline):
            self.expires_at = time.time() + self.idle_s
            self._scope.deadline = anyio.current_time() + self.idle_s
        self._wake.set()

    async def run(self, execute: ExecuteFn, source: BaseToolSource, on_end: Callable[[CodeExecution], None]) -> None:
        """The execution task (in the store's task group)."""
        try:
            with self._scope:
                outcome = await execute(source)
                if isinstance(outcome, Suspended):
                    self.suspended = outcome
                else:
                    self.result = outcome
            self.expired = self._scope.cancelled_caught
        finally:
            on_end(self)
            self.closed.set()
            self._signal()

    async def outcome(self, settle_s: float) -> ExecutionResult | list[PendingCall] | None:
        """Wait until the code finishes or pauses on client calls.

        A pause is declared once the code has posted client calls and `settle_s` passed without
        another (the calls of one `asyncio.gather` arrive together). None: the execution expired
        or was cancelled without a result.
        """
        while True:
            if self.closed.is_set():
                return self.result
            if any(not call.sent for call in self.rendezvous.waiting()):
                while True:  # settle: let the rest of a gather arrive
                    self._wake = anyio.Event()
                    with anyio.move_on_after(settle_s):
                        await self._wake.wait()
                        continue
                    break
                if self.closed.is_set():
                    return self.result
                calls = self.rendezvous.unsent()
                if calls:
                    return calls
                continue
            self._wake = anyio.Event()
            await self._wake.wait()

    def resume(self, results: Mapping[str, ToolResult]) -> None:
        """Deliver the client's results and stop the idle timer."""
        self.rendezvous.answer(results)
        self._scope.deadline = math.inf
        if self.rendezvous.waiting():  # calls that came after the pause: their idle clock runs anew
            self._on_call()

    def cancel(self) -> None:
        """End it now (the sandbox is killed and removed)."""
        self._scope.cancel()

    async def detach(self) -> tuple[Suspended, dict[str, int]] | None:
        """At a pause: let the sandbox go and end this task; the state, and client call id -> frame id.

        None when it cannot be detached (not detachable, a call still on its way, the executor
        declined): it then stays paused here, as on any backend.
        """
        waiting = self.rendezvous.waiting()
        if self.control is None or not waiting or any(c.frame_id is None or not c.sent for c in waiting):
            return None
        calls = {call.id: call.frame_id for call in waiting if call.frame_id is not None}
        if not await self.control.detach(frozenset(calls.values())):
            return None
        await self.closed.wait()
        if self.suspended is None:
            return None
        return self.suspended, calls


class ExecutionStore:
    """The executions of this process, by id, each running in the store's task group."""

    def __init__(self, tg: TaskGroup, *, max_paused: int) -> None:
        self._tg = tg
        self._max = max_paused
        self._executions: dict[str, CodeExecution] = {}

    def __len__(self) -> int:
        return len(self._executions)

    def __iter__(self) -> Iterator[CodeExecution]:
        return iter(list(self._executions.values()))

    def check_room(self) -> None:
        """429 when this proxy holds as many executions as it may (`start` checks it too)."""
        if len(self._executions) >= self._max:
            raise ApiError(
                "rate_limit_error",
                f"this proxy already holds {self._max} code executions ([proxy] max_paused); try again later",
            )

    def start(self, execution: CodeExecution, execute: ExecuteFn, source: BaseToolSource) -> None:
        """Run `execution` in the background; 429 when too many are held already."""
        if len(self._executions) >= self._max:
            raise ApiError(
                "rate_limit_error",
                f"this proxy already holds {self._max} code executions ([proxy] max_paused); try again later",
            )
        self._executions[execution.id] = execution
        self._tg.start_soon(execution.run, execute, source, self._forget, name=f"ptc execution {execution.id}")

    def _forget(self, execution: CodeExecution) -> None:
        self._executions.pop(execution.id, None)

    def get(self, execution_id: str) -> CodeExecution | None:
        """The execution, while it runs or waits."""
        return self._executions.get(execution_id)
