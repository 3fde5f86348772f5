"""Run one block of model code in a fresh sandbox, bridging its tool calls to a tool source.

The MCP server, the orchestrator and the CLI call only this::

    executor = Executor(backend=backend, source=source, limits=limits)
    result = await executor.execute(code, toolbox=build_toolbox(tools, settings=settings))

`execute` never raises for what the code did: the code's own exception, a timeout, a crash, a
limit or a protocol violation all come back as `ExecutionResult.error`, with the stdout/stderr
captured up to that point and the count of tool calls that had completed. It raises only for
cancellation (the sandbox is killed first) and `SandboxUnavailableError` (no sandbox could be
started at all). The sandbox is always closed (killed and removed) under a shielded scope.

`execution_timeout_s` and `ExecutionResult.duration_s` count from the moment the job is sent:
acquiring the sandbox (warm pool or cold start) is the backend's time, bounded by the backend.

Every frame from the sandbox is untrusted: the host checks its size and nonce (`FrameDecoder`),
its shape (the pydantic models in `_frames`), that a call names a tool of the catalog, and the
per-execution call cap. A frame that fails any check ends the execution as a protocol
violation. See docs/protocol.md.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, assert_never, cast

import anyio
from anyio.abc import TaskGroup

from bridge.protocol import (
    STUB_ERROR,
    TOOL_ERROR,
    FrameDecoder,
    FrameError,
    JobMessage,
    encode_frame,
    new_nonce,
)
from gateway.catalog import Catalog, CatalogTool
from gateway.config import ExecutionLimits
from gateway.errors import (
    ExecutionTimeoutError,
    LimitExceededError,
    ProtocolViolationError,
    SandboxCrashError,
    SandboxError,
    SandboxUnavailableError,
    UpstreamError,
)
from gateway.executor._frames import CallFrame, DoneFrame, ErrorInfoFrame, OutputFrame, StartedFrame, parse_frame
from gateway.executor._records import ExecutionFailure, ExecutionHooks, ExecutionResult, FailureKind
from gateway.executor._result_frames import result_frame
from gateway.executor._state import Capture, Deadline, Run
from gateway.executor._suspend import (
    CALL_ID,
    DetachableSandbox,
    DetachControl,
    Suspended,
    SuspendedRun,
    left,
    toolbox_digest,
)
from gateway.sandbox import BaseSandbox, BaseSandboxBackend
from gateway.stubs import Toolbox
from gateway.tools import BaseToolSource, CallOptions, JsonValue, ToolResult

__all__ = ["Executor"]

logger = logging.getLogger(__name__)

EXIT_STATUS_WAIT_S = 1.0
"""After the runner's output ends, how long to wait for its exit status (for the crash message)."""
_EXIT_STATUS_POLL_S = 0.02
_DIAGNOSTICS_CHARS = 2000
_OOM_STATUSES = frozenset({137, -9})
ERROR_TYPE_BYTES = 256
"""Longest exception type name kept from a `done` frame (the frame model already refuses longer ones)."""
CALL_RESERVE_FRACTION = 0.1
CALL_RESERVE_MIN_S = 0.5
CALL_RESERVE_MAX_S = 5.0
"""A tool call still running this close to the execution's deadline fails with `ToolError` (see `call_reserve_s`)."""


class Executor:
    """Runs model code in fresh sandboxes from `backend`, bridging tool calls to `source`."""

    def __init__(self, *, backend: BaseSandboxBackend, source: BaseToolSource, limits: ExecutionLimits) -> None:
        self.backend = backend
        self.source = source
        self.limits = limits

    async def execute(
        self,
        code: str,
        *,
        toolbox: Toolbox,
        hooks: ExecutionHooks | None = None,
    ) -> ExecutionResult:
        """Run `code` once in a fresh sandbox; every outcome is an `ExecutionResult` (see the module doc).

        Args:
            code: the model's Python source (top-level `await` allowed).
            toolbox: the catalog version to run against (`gateway.stubs.build_toolbox`): its stub module and
                namespaces go to the runner; `call` frames naming tools outside its catalog are refused.
            hooks: progress callbacks.
        """
        outcome = await self._start(code, toolbox, None, hooks)
        assert isinstance(outcome, ExecutionResult)  # nobody can ask an execution without control to detach
        return outcome

    async def _start(
        self, code: str, toolbox: Toolbox, control: DetachControl | None, hooks: ExecutionHooks | None
    ) -> ExecutionResult | Suspended:
        """Acquire a sandbox and run `code` in it from the first frame (the job) to the end or a detach."""
        refused = _not_unicode(code)
        if refused is not None:  # it cannot be encoded for the job frame
            if control is not None:
                control.close()
            failure = ExecutionFailure(kind="code", type="UnicodeEncodeError", message=refused)
            return ExecutionResult(stdout="", stderr="", error=failure, tool_calls=0, duration_s=0.0)
        limits = self.limits
        job: JobMessage = {
            "type": "job",
            "code": code,
            "stubs": toolbox.stubs,
            "namespaces": toolbox.namespaces,
            "limits": {"max_output_bytes": limits.max_output_bytes, "max_frame_bytes": limits.max_frame_bytes},
            "helpers": toolbox.helpers,
        }
        nonce = new_nonce()
        first = encode_frame(nonce, job)
        sandbox = await self.backend.acquire()
        run = Run(nonce=nonce, limits=limits, sandbox=sandbox)
        cap_s = limits.execution_timeout_s + limits.max_approval_wait_s
        return await self._run(
            run, sandbox, first, toolbox, control, hooks, timeout_left=limits.execution_timeout_s, cap_left=cap_s
        )

    async def _run(
        self,
        run: Run,
        sandbox: BaseSandbox,
        first: bytes,
        toolbox: Toolbox,
        control: DetachControl | None,
        hooks: ExecutionHooks | None,
        *,
        timeout_left: float,
        cap_left: float,
    ) -> ExecutionResult | Suspended:
        """Drive `run` from sending `first`; the sandbox is closed at the end unless it was detached."""
        suspended: Suspended | None = None
        try:
            suspended = await self._drive(
                run, sandbox, first, toolbox, control, hooks or ExecutionHooks(), timeout_left, cap_left
            )
        finally:
            if control is not None:
                control.close()
            if suspended is None:
                with anyio.CancelScope(shield=True):
                    await _close(sandbox)
        return suspended if suspended is not None else _result(run, self.limits)

    async def _drive(
        self,
        run: Run,
        sandbox: BaseSandbox,
        first: bytes,
        toolbox: Toolbox,
        control: DetachControl | None,
        hooks: ExecutionHooks,
        timeout_left: float,
        cap_left: float,
    ) -> Suspended | None:
        timeout_s = self.limits.execution_timeout_s
        cap_s = timeout_s + self.limits.max_approval_wait_s
        now = anyio.current_time()
        # The hard cap never pauses: approvals stop the inner deadline (and freeze the sandbox), not this one.
        hard_cap = anyio.CancelScope(deadline=now + cap_left)
        deadline = anyio.CancelScope(deadline=now + timeout_left)
        suspended: Suspended | None = None
        tools: dict[int, str] = {}
        """The calls in flight: frame id -> tool id (what a detach records)."""

        async def run_call(call: _Call) -> None:
            tools[call.frame.id] = call.tool.id
            token = CALL_ID.set(call.frame.id)  # the tool source may tell which frame it serves
            try:
                await self._call(run, sandbox, call.tool, call.frame, hooks, call.token)
            finally:
                CALL_ID.reset(token)
                tools.pop(call.frame.id, None)

        with hard_cap:
            with deadline:
                run.deadline = Deadline(deadline)
                async with anyio.create_task_group() as tg, _Workers(tg, run_call) as workers:
                    if await _send(run, sandbox, first):
                        suspended = await self._read(run, sandbox, workers, toolbox, control, hard_cap, tools)
                    else:
                        await _crashed(run, sandbox)
                    tg.cancel_scope.cancel()  # calls still in flight have nobody waiting for them
        if suspended is None and run.done is None and run.fault is None:
            if deadline.cancelled_caught:
                message = f"timed out after {timeout_s:g} s"
            elif hard_cap.cancelled_caught:
                message = (
                    f"stopped after {cap_s:g} s in all, most of it waiting for approval "
                    f"(execution_timeout_s {timeout_s:g} + max_approval_wait_s {self.limits.max_approval_wait_s:g})"
                )
            else:
                return None
            run.fault = ("timeout", ExecutionTimeoutError(message, progress=run.progress()))
        return suspended

    async def _read(
        self,
        run: Run,
        sandbox: BaseSandbox,
        workers: _Workers,
        toolbox: Toolbox,
        control: DetachControl | None,
        hard_cap: anyio.CancelScope,
        tools: dict[int, str],
    ) -> Suspended | None:
        """Read and act on the runner's frames until the end; with `control`, detach when it asks to.

        A detach request is looked at only where the executor just waits for the runner's bytes
        (no frame half-read, none half-handled).
        """
        decoder = FrameDecoder(max_frame_bytes=self.limits.max_frame_bytes, nonce=run.nonce)
        while True:
            if control is not None and (wanted := control.wanted()) is not None and not decoder.buffered:
                if wanted != frozenset(run.in_flight) or run.deadline is None:
                    control.answer(False)
                else:
                    return await self._detach(run, tools, sandbox, toolbox, control, hard_cap, run.deadline)
            chunk: bytes | None = None
            try:
                if control is None:
                    chunk = await sandbox.receive()
                else:
                    with control.reading():
                        chunk = await sandbox.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                await _crashed(run, sandbox)
                return None
            except Exception:  # a backend bug must end this execution, never escape as a gateway crash
                logger.exception("reading from sandbox %s failed", sandbox.info.id)
                await _crashed(run, sandbox)
                return None
            if chunk is None:
                continue  # a detach request: decided at the top
            error: FrameError | None = None
            try:
                messages = decoder.feed(chunk)
            except FrameError as e:
                error, messages = e, e.frames
            for _, message in messages:
                if not await self._handle(run, workers, toolbox.catalog, message):
                    return None
            if error is not None:
                _violation(run, str(error))
                return None

    async def _handle(self, run: Run, workers: _Workers, catalog: Catalog, message: dict[str, Any]) -> bool:
        """Act on one decoded frame; False ends the execution (done, or a fault was recorded)."""
        frame = parse_frame(message)
        if isinstance(frame, str):
            _violation(run, frame)
            return False
        match frame:
            case StartedFrame():
                run.started = True
            case OutputFrame(stream=stream, data=data):
                (run.stdout if stream == "stdout" else run.stderr).add(data)
            case DoneFrame():
                run.done = frame
                return False
            case CallFrame():
                tool = catalog.tool(frame.tool)
                if tool is None:
                    _violation(run, f"call to unknown tool {ascii(frame.tool[:200])}")  # escaped: no look-alikes
                    return False
                if frame.id in run.in_flight:
                    _violation(run, f"call id {frame.id} is already in flight")
                    return False
                if run.calls >= self.limits.max_tool_calls:
                    run.fault = (
                        "limit",
                        LimitExceededError(
                            f"the code made more than {self.limits.max_tool_calls} tool calls "
                            "(max_tool_calls); the execution was stopped",
                            progress=run.progress(),
                        ),
                    )
                    return False
                run.calls += 1
                run.in_flight.add(frame.id)
                # Backpressure: at most max_concurrent_calls calls (and their arguments) exist at once;
                # until one finishes, the runner's further frames wait in its pipe.
                token = object()
                try:
                    run.limiter.acquire_on_behalf_of_nowait(token)  # the common case skips a loop pass
                except anyio.WouldBlock:
                    await run.limiter.acquire_on_behalf_of(token)
                workers.submit(_Call(tool=tool, frame=frame, token=token))
            case _:  # pragma: no cover - exhaustive
                assert_never(frame)
        return True

    async def _call(
        self,
        run: Run,
        sandbox: BaseSandbox,
        tool: CatalogTool,
        frame: CallFrame,
        hooks: ExecutionHooks,
        token: object,
    ) -> None:
        try:
            result = await self._invoke(run, tool, frame.arguments)
        finally:
            run.limiter.release_on_behalf_of(token)
        data, ok = result_frame(run.nonce, frame.id, result, tool, self.limits.max_result_bytes)
        run.in_flight.discard(frame.id)
        run.completed += 1
        run.result_bytes += len(data)
        # The hook runs before the result goes back: once the runner has its last result it may
        # finish at once, and the end of the execution cancels calls still in flight, which would
        # cut a hook still reporting (a lost final progress notification).
        if hooks.on_tool_call_done is not None:
            try:
                await hooks.on_tool_call_done(tool.ref, ok, run.completed)
            except Exception:  # a caller's progress hook must never break the execution
                logger.exception("on_tool_call_done hook failed")
        await _send(run, sandbox, data)

    async def _invoke(self, run: Run, tool: CatalogTool, arguments: Mapping[str, JsonValue]) -> ToolResult | str:
        """The tool's result, or the message of the `ToolError` the code will see.

        The tool source applies its own per-call timeout (the fleet: the server's `timeout`).
        `tool_call_timeout_s`, when set, caps every call on top of it; and every call ends
        `call_reserve_s` before the execution's deadline, so a hanging tool becomes a `ToolError`
        the code can catch while it still has time to use the results it has. Neither clock counts
        the time a wrapper spends waiting on a human (an approval question, `CallOptions.suspend`).
        """
        label = tool.id
        refused = _refused_arguments(tool, arguments)
        if refused is not None:
            return f"{label}: {refused}"
        cap_s = self.limits.tool_call_timeout_s
        reserve_s = call_reserve_s(self.limits.execution_timeout_s)
        assert run.deadline is not None  # calls arrive only after the job was sent
        clamped = False
        try:
            with anyio.CancelScope(deadline=anyio.current_time() + (cap_s or math.inf)) as scope:
                call = Deadline(scope)
                with run.deadline.follow(reserve_s) as clamp:
                    options: CallOptions = {"suspend": lambda: run.suspended(call)}
                    return await self.source.call_tool(tool.ref, arguments, options=options)
                clamped = clamp.cancelled_caught
        except TimeoutError:  # the source's own timeout, raised as TimeoutError rather than UpstreamError
            return f"{label}: no answer in time (the tool source's timeout)"
        except UpstreamError as e:
            return f"{label}: {e}"
        except Exception as e:  # a broken tool source must fail one call, not the gateway
            logger.exception("tool source failed calling %s", tool.ref)
            return f"{label}: internal gateway error ({type(e).__name__})"
        if clamped or cap_s is None:
            return (
                f"{label}: no answer before the execution's deadline (execution_timeout_s="
                f"{self.limits.execution_timeout_s:g} s; calls end {reserve_s:g} s before it so the code can use "
                "what it has)"
            )
        return f"{label}: no answer within {cap_s:g} s (tool_call_timeout_s)"

    # --- detachable executions (the seam for callers that resume elsewhere; see `_suspend`) -----------

    async def execute_detachable(
        self, code: str, *, toolbox: Toolbox, control: DetachControl, hooks: ExecutionHooks | None = None
    ) -> ExecutionResult | Suspended:
        """`execute`, but the caller may detach the execution at a pause point (`DetachControl.detach`).

        Needs a backend whose sandboxes can `detach` (AgentCore's session-api channel).
        """
        return await self._start(code, toolbox, control, hooks)

    async def resume_detached(
        self,
        state: SuspendedRun,
        *,
        sandbox: BaseSandbox,
        toolbox: Toolbox,
        results: Mapping[int, ToolResult | str],
        control: DetachControl,
        hooks: ExecutionHooks | None = None,
    ) -> ExecutionResult | Suspended:
        """Continue a detached execution on `sandbox` (re-attached from its handle).

        `results` answer the calls that were in flight; the execution keeps the limits it started with.
        The sandbox is closed at the end (or detached again). `SandboxUnavailableError` when the state
        does not fit the toolbox or the results.
        """
        try:
            if toolbox_digest(toolbox) != state.catalog:
                raise SandboxUnavailableError("the catalog changed since the execution was detached")
            if set(results) != set(state.pending):
                raise SandboxUnavailableError("the results do not answer exactly the calls in flight")
            limits = state.execution_limits()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await _close(sandbox)
            raise
        inner = Executor(backend=self.backend, source=self.source, limits=limits)
        run = Run(nonce=state.nonce, limits=limits, sandbox=sandbox)
        run.started = state.started
        run.calls = state.calls
        run.completed = state.completed
        run.result_bytes = state.result_bytes
        run.stdout = Capture.restored(limits.max_output_bytes, state.stdout, state.stdout_dropped)
        run.stderr = Capture.restored(limits.max_output_bytes, state.stderr, state.stderr_dropped)
        run.t0 = anyio.current_time() - state.elapsed_s
        frames = bytearray()
        for call_id, tool_id in state.pending.items():
            tool = toolbox.catalog.tool(tool_id)
            if tool is None:  # the digest matched, so only a bug gets here
                raise SandboxUnavailableError(f"tool {tool_id!r} is not in the catalog")
            data, _ = result_frame(run.nonce, call_id, results[call_id], tool, limits.max_result_bytes)
            run.completed += 1
            run.result_bytes += len(data)
            frames += data
        away = max(time.time() - state.detached_at, 0.0)
        return await inner._run(
            run,
            sandbox,
            bytes(frames),
            toolbox,
            control,
            hooks,
            timeout_left=state.timeout_left_s,
            cap_left=max(state.cap_left_s - away, 0.0),
        )

    async def _detach(
        self,
        run: Run,
        tools: dict[int, str],
        sandbox: BaseSandbox,
        toolbox: Toolbox,
        control: DetachControl,
        hard_cap: anyio.CancelScope,
        deadline: Deadline,
    ) -> Suspended | None:
        detach = getattr(sandbox, "detach", None)
        if detach is None:
            control.answer(False)
            return None
        state = SuspendedRun(
            nonce=run.nonce,
            catalog=toolbox_digest(toolbox),
            limits=self.limits.model_dump(mode="json"),
            started=run.started,
            calls=run.calls,
            completed=run.completed,
            result_bytes=run.result_bytes,
            pending={},
            stdout=run.stdout.snapshot()[0],
            stdout_dropped=run.stdout.snapshot()[1],
            stderr=run.stderr.snapshot()[0],
            stderr_dropped=run.stderr.snapshot()[1],
            timeout_left_s=deadline.left(),
            cap_left_s=left(hard_cap.deadline),
            elapsed_s=run.elapsed(),
            detached_at=time.time(),
        )
        state = dataclasses.replace(state, pending={i: t for i, t in tools.items() if i in run.in_flight})
        if len(state.to_json().encode()) > control.max_state_bytes:
            logger.info(
                "not detaching sandbox %s: its state is over %d bytes", sandbox.info.id, control.max_state_bytes
            )
            control.answer(False)
            return None
        async with run.send_lock:  # no result frame half-queued
            try:
                handle = await cast(DetachableSandbox, sandbox).detach()
            except SandboxError as e:
                logger.warning("could not detach sandbox %s: %s", sandbox.info.id, e)
                control.answer(False)
                return None
        control.answer(True)
        return Suspended(handle=handle, run=state)


def _refused_arguments(tool: CatalogTool, arguments: Mapping[str, JsonValue]) -> str | None:
    """Why `arguments` are refused, when the tool's input schema forbids ones it does not list.

    The stub's signature already refuses them in the sandbox, but the code can write `call` frames
    itself; the upstream may ignore extra arguments silently, or act on them.
    """
    schema = tool.spec.input_schema
    if schema.get("additionalProperties") is not False:
        return None
    properties = schema.get("properties")
    allowed = properties if isinstance(properties, dict) else {}
    extra = [name for name in arguments if name not in allowed]
    if not extra:
        return None
    names = ", ".join(ascii(name) for name in extra[:5]) + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
    accepted = ", ".join(repr(name)[:80] for name in list(allowed)[:20]) or "none"
    return f"unexpected argument {names}: its input schema accepts only {accepted}"


def _not_unicode(code: str) -> str | None:
    r"""Why `code` is not Unicode text (a lone surrogate, which UTF-8 cannot encode), or None.

    `ptc-gateway run -` reads stdin bytes that are not UTF-8 as surrogate escapes under a C locale, and
    JSON from a model may spell one (`"\ud800"`); compiling such a string fails the same way in Python.
    """
    try:
        code.encode("utf-8")
    except UnicodeEncodeError as e:
        line = code.count("\n", 0, e.start) + 1
        column = e.start - code.rfind("\n", 0, e.start)
        return (
            f"the code is not valid Unicode text: a lone surrogate {ascii(code[e.start])} at line {line}, "
            f"column {column} (text decoded from bytes that are not UTF-8?)"
        )
    return None


def call_reserve_s(execution_timeout_s: float) -> float:
    """How long before the execution's deadline every tool call is ended: 10 %, within 0.5–5 s, at most half."""
    reserve_s = min(max(CALL_RESERVE_FRACTION * execution_timeout_s, CALL_RESERVE_MIN_S), CALL_RESERVE_MAX_S)
    return min(reserve_s, execution_timeout_s / 2)


@dataclass(frozen=True, slots=True)
class _Call:
    tool: CatalogTool
    frame: CallFrame
    token: object
    """The limiter slot the call holds."""


class _Workers:
    """Runs one execution's tool calls on worker tasks that each serve many calls.

    An anyio task per call costs a task start (tens of microseconds on a small machine) on the
    path of every call; a worker waiting for the next call costs one memory-stream hand-off.
    Workers start as concurrency needs them; the `max_concurrent_calls` limiter, acquired before
    `submit`, bounds how many calls (so workers) there can be. They end with the task group.
    """

    def __init__(self, tg: TaskGroup, run_call: Callable[[_Call], Awaitable[None]]) -> None:
        self._tg = tg
        self._run_call = run_call
        self._send, self._receive = anyio.create_memory_object_stream[_Call](math.inf)
        self._idle = 0

    async def __aenter__(self) -> _Workers:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._send.close()
        self._receive.close()

    def submit(self, call: _Call) -> None:
        if self._idle:
            self._idle -= 1  # an idle worker takes it
        else:
            self._tg.start_soon(self._work)
        self._send.send_nowait(call)

    async def _work(self) -> None:
        async for call in self._receive:
            await self._run_call(call)
            self._idle += 1


async def _send(run: Run, sandbox: BaseSandbox, data: bytes) -> bool:
    """Write one frame to the runner; False when it is gone (the reader then reports the crash)."""
    async with run.send_lock:
        try:
            await sandbox.send(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            return False
    return True


async def _close(sandbox: BaseSandbox) -> None:
    try:
        await sandbox.aclose()
    except Exception:  # cleanup boundary: the result is already decided; the backend reaps leftovers
        logger.exception("closing sandbox %s failed", sandbox.info.id)


def _violation(run: Run, detail: str) -> None:
    run.fault = (
        "protocol",
        ProtocolViolationError(
            f"the sandbox sent a bad frame ({detail}); the execution was stopped", progress=run.progress()
        ),
    )


async def _crashed(run: Run, sandbox: BaseSandbox) -> None:
    status = await _exit_status(sandbox)
    if status is None:
        how = "closed its output"
    elif status in _OOM_STATUSES:
        how = f"was killed (exit status {status}: out of memory or a resource limit)"
    else:
        how = f"exited with status {status}"
    message = f"the sandbox runner {how} before reporting an outcome"
    try:
        diagnostics = (await sandbox.diagnostics()).strip()
    except Exception:  # diagnostics only decorate the message; a failing backend must not hide the crash
        logger.exception("reading diagnostics of sandbox %s failed", sandbox.info.id)
        diagnostics = ""
    if diagnostics:
        message += f" (runner stderr: {diagnostics[-_DIAGNOSTICS_CHARS:]})"
    run.fault = ("crash", SandboxCrashError(message, progress=run.progress()))


async def _exit_status(sandbox: BaseSandbox) -> int | None:
    with anyio.move_on_after(EXIT_STATUS_WAIT_S):
        while True:
            try:
                status = await sandbox.exit_status()
            except Exception:  # the status only decorates the message (see _crashed)
                logger.exception("reading the exit status of sandbox %s failed", sandbox.info.id)
                return None
            if status is not None:
                return status
            await anyio.sleep(_EXIT_STATUS_POLL_S)
    return None


def _result(run: Run, limits: ExecutionLimits) -> ExecutionResult:
    done = run.done
    stdout, stdout_truncated = run.stdout.text(done.stdout_dropped if done else 0)
    stderr, stderr_truncated = run.stderr.text(done.stderr_dropped if done else 0)
    return ExecutionResult(
        stdout=stdout,
        stderr=stderr,
        error=_failure(run, limits),
        tool_calls=run.completed,
        duration_s=run.elapsed(),
        stdout_truncated=stdout_truncated,
        stderr_truncated=stderr_truncated,
        tool_output_bytes=run.result_bytes,
    )


def _clean(text: str, limit_bytes: int) -> str:
    """Text from the sandbox, safe to encode anywhere (no lone surrogates) and at most `limit_bytes` long.

    The `done` frame's error text is the runner's word: a hostile runner can forge one carrying megabytes
    of "traceback". Clipped here, where it enters, it stays bounded on every way out (CLI, MCP result,
    orchestrator, spans).
    """
    data = text.encode("utf-8", "replace")
    if len(data) <= limit_bytes:
        return data.decode("utf-8")
    kept = data[:limit_bytes].decode("utf-8", "ignore")
    return f"{kept}\n[... {len(data) - len(kept.encode('utf-8'))} more bytes dropped (max_output_bytes={limit_bytes})]"


def _failure(run: Run, limits: ExecutionLimits) -> ExecutionFailure | None:
    if run.fault is not None:
        kind, exc = run.fault
        return ExecutionFailure(kind=kind, type=type(exc).__name__, message=str(exc), exception=exc)
    done = run.done
    if done is None:  # pragma: no cover - _drive always records an outcome
        exc = SandboxCrashError("the sandbox ended without an outcome", progress=run.progress())
        return ExecutionFailure(kind="crash", type=type(exc).__name__, message=str(exc), exception=exc)
    if done.ok:
        return None
    error = done.error or ErrorInfoFrame(type="Exception", message="the code failed without details")
    error = ErrorInfoFrame(
        type=_clean(error.type, ERROR_TYPE_BYTES),
        message=_clean(error.message, limits.max_output_bytes),
        traceback=_clean(error.traceback, limits.max_output_bytes) if error.traceback is not None else None,
        lineno=error.lineno,
    )
    if not run.started and error.type == STUB_ERROR:
        # The runner could not even install the tools: a gateway-side fault, not the code's.
        exc = SandboxCrashError(f"the sandbox could not start the code: {error.message}", progress=run.progress())
        return ExecutionFailure(kind="crash", type=type(exc).__name__, message=str(exc), exception=exc)
    kind: FailureKind = "tool" if error.type == TOOL_ERROR else "code"
    return ExecutionFailure(kind=kind, type=error.type, message=error.message, traceback=error.traceback)
