"""Run one block of model code in a fresh sandbox, bridging its tool calls to a tool source.

The MCP server, the orchestrator and the CLI call only this::

    executor = Executor(backend=backend, source=source, limits=limits)
    result = await executor.execute(code, catalog=catalog, stubs=stubs, namespaces=namespaces)

`execute` never raises for what the code did: the code's own exception, a timeout, a crash, a
limit or a protocol violation all come back as `ExecutionResult.error`, with the stdout/stderr
captured up to that point and the count of tool calls that had completed. It raises only for
cancellation (the sandbox is killed first) and `SandboxUnavailableError` (no sandbox could be
started at all). The sandbox is always closed (killed and removed) under a shielded scope.

`execution_timeout_s` and `ExecutionResult.duration_s` count from the moment the job is sent:
acquiring the sandbox (warm pool or cold start) is the backend's time, bounded by the backend.

Every frame from the sandbox is untrusted: the host checks its size and nonce (`FrameDecoder`),
its shape (the pydantic models below), that a call names a tool of the catalog, and the
per-execution call cap. A frame that fails any check ends the execution as a protocol
violation. See docs/protocol.md.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Literal, assert_never

import anyio
from anyio.abc import TaskGroup
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic import JsonValue as PydanticJsonValue

from bridge.protocol import (
    FrameDecoder,
    FrameError,
    JobMessage,
    NamespaceSpec,
    ResultMessage,
    encode_frame,
    new_nonce,
)
from gateway.catalog import Catalog, CatalogTool
from gateway.config import ExecutionLimits
from gateway.errors import (
    ExecutionProgress,
    ExecutionTimeoutError,
    GatewayError,
    LimitExceededError,
    ProtocolViolationError,
    SandboxCrashError,
    SandboxError,
    UpstreamError,
)
from gateway.sandbox import BaseSandbox, BaseSandboxBackend
from gateway.tools import BaseToolSource, CallOptions, Content, JsonValue, TextContent, ToolRef, ToolResult

__all__ = ["ExecutionFailure", "ExecutionHooks", "ExecutionResult", "Executor", "FailureKind"]

logger = logging.getLogger(__name__)

FailureKind = Literal["code", "tool", "timeout", "crash", "limit", "protocol"]

EXIT_STATUS_WAIT_S = 1.0
"""After the runner's output ends, how long to wait for its exit status (for the crash message)."""
_EXIT_STATUS_POLL_S = 0.02
_DIAGNOSTICS_CHARS = 2000
_OOM_STATUSES = frozenset({137, -9})
STUB_ERROR_TYPE = "StubError"
"""`done.error.type` when the runner could not load the stubs (sent before `started`)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionFailure:
    """Why an execution did not finish cleanly."""

    kind: FailureKind
    """`code`: the model's code raised (traceback points at its lines). `tool`: it let a `ToolError`
    escape. Others: sandbox faults, with `exception` set."""
    type: str
    """Exception type name, e.g. `KeyError`, `ToolError`, `ExecutionTimeoutError`."""
    message: str
    traceback: str | None = None
    exception: GatewayError | None = None
    """For sandbox faults, the error-tree instance (ExecutionTimeoutError, LimitExceededError, …)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionResult:
    """What one execution produced."""

    stdout: str
    stderr: str
    error: ExecutionFailure | None
    tool_calls: int
    """Tool calls that completed (successfully or with a tool error)."""
    duration_s: float
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    tool_output_bytes: int = 0
    """Bytes of tool results injected into the sandbox: data the model never had to read."""

    @property
    def ok(self) -> bool:
        """True when the code ran to completion without raising."""
        return self.error is None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionHooks:
    """Callbacks for callers that report progress (the MCP server) or trace."""

    on_tool_call_done: Callable[[ToolRef, bool, int], Awaitable[None]] | None = None
    """(tool, ok, completed_count) after each bridged call finishes."""


# --- Frames the host accepts from the sandbox -------------------------------------------------

_MAX_TOOL_ID_CHARS = 1024
_MAX_CALL_ID = 2**53


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _StartedFrame(_Frame):
    type: Literal["started"]


class _CallFrame(_Frame):
    type: Literal["call"]
    id: int = Field(ge=0, le=_MAX_CALL_ID)
    tool: str = Field(max_length=_MAX_TOOL_ID_CHARS)
    arguments: dict[str, PydanticJsonValue]


class _OutputFrame(_Frame):
    type: Literal["output"]
    stream: Literal["stdout", "stderr"]
    data: str


class _ErrorInfo(_Frame):
    type: str = Field(max_length=256)
    message: str
    traceback: str | None = None
    lineno: int | None = None


class _DoneFrame(_Frame):
    type: Literal["done"]
    ok: bool
    tool_calls: int = Field(ge=0)
    stdout_dropped: int = Field(ge=0)
    stderr_dropped: int = Field(ge=0)
    error: _ErrorInfo | None = None


_SandboxFrame = Annotated[_StartedFrame | _CallFrame | _OutputFrame | _DoneFrame, Field(discriminator="type")]
_FRAME_ADAPTER: TypeAdapter[_StartedFrame | _CallFrame | _OutputFrame | _DoneFrame] = TypeAdapter(_SandboxFrame)


# --- Per-execution state ------------------------------------------------------------------------


class _Capture:
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


_Fault = tuple[Literal["timeout", "crash", "limit", "protocol"], SandboxError]


class _Deadline:
    """A cancel scope's deadline that stops while somebody waits on a human (see `CallOptions.suspend`).

    Nested and concurrent pauses are counted: the clock runs again when the last one ends, with the
    time that was left when the first one began.
    """

    def __init__(self, scope: anyio.CancelScope) -> None:
        self._scope = scope
        self._depth = 0
        self._remaining = 0.0

    def pause(self) -> None:
        if self._depth == 0:
            self._remaining = max(self._scope.deadline - anyio.current_time(), 0.0)
            self._scope.deadline = math.inf
        self._depth += 1

    def resume(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._scope.deadline = anyio.current_time() + self._remaining


class _Run:
    """Mutable state of one execution (owned by one `execute` call)."""

    def __init__(self, *, nonce: str, limits: ExecutionLimits) -> None:
        self.nonce = nonce
        self.started = False
        self.calls = 0
        """`call` frames accepted."""
        self.completed = 0
        self.result_bytes = 0
        self.in_flight: set[int] = set()
        self.done: _DoneFrame | None = None
        self.fault: _Fault | None = None
        self.stdout = _Capture(limits.max_output_bytes)
        self.stderr = _Capture(limits.max_output_bytes)
        self.send_lock = anyio.Lock(fast_acquire=True)
        self.limiter = anyio.CapacityLimiter(limits.max_concurrent_calls)
        self.t0 = anyio.current_time()
        self.deadline: _Deadline | None = None
        """The execution's deadline, once the job is sent."""

    @asynccontextmanager
    async def suspended(self, call: _Deadline) -> AsyncGenerator[None]:
        """Stop the execution's and one call's clocks while a human is asked."""
        if self.deadline is not None:
            self.deadline.pause()
        call.pause()
        try:
            yield
        finally:
            call.resume()
            if self.deadline is not None:
                self.deadline.resume()

    def elapsed(self) -> float:
        return anyio.current_time() - self.t0

    def progress(self) -> ExecutionProgress:
        return ExecutionProgress(
            started=self.started,
            elapsed_s=self.elapsed(),
            tool_calls_completed=self.completed,
            tool_calls_in_flight=len(self.in_flight),
        )


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
        catalog: Catalog,
        stubs: str,
        namespaces: list[NamespaceSpec],
        helpers: bool = False,
        hooks: ExecutionHooks | None = None,
    ) -> ExecutionResult:
        """Run `code` once in a fresh sandbox; every outcome is an `ExecutionResult` (see the module doc).

        Args:
            code: the model's Python source (top-level `await` allowed).
            catalog: the tools the code may call (`call` frames naming other ids are refused).
            stubs: the rendered stub module (`gateway.stubs.render_module`).
            namespaces: the job namespaces (`gateway.stubs.job_namespaces`), ids from `catalog`.
            helpers: install `search_tools` and `help` in the sandbox (compact-index prompts).
            hooks: progress callbacks.
        """
        limits = self.limits
        job: JobMessage = {
            "type": "job",
            "code": code,
            "stubs": stubs,
            "namespaces": namespaces,
            "limits": {"max_output_bytes": limits.max_output_bytes, "max_frame_bytes": limits.max_frame_bytes},
            "helpers": helpers,
        }
        sandbox = await self.backend.acquire()
        run = _Run(nonce=new_nonce(), limits=limits)
        try:
            await self._drive(run, sandbox, job, catalog, hooks or ExecutionHooks())
        finally:
            with anyio.CancelScope(shield=True):
                await _close(sandbox)
        return _result(run, limits)

    async def _drive(
        self, run: _Run, sandbox: BaseSandbox, job: JobMessage, catalog: Catalog, hooks: ExecutionHooks
    ) -> None:
        timeout_s = self.limits.execution_timeout_s
        with anyio.CancelScope(deadline=anyio.current_time() + timeout_s) as deadline:
            run.deadline = _Deadline(deadline)
            async with anyio.create_task_group() as tg:
                if await _send(run, sandbox, encode_frame(run.nonce, job)):
                    await self._read(run, sandbox, tg, catalog, hooks)
                else:
                    await _crashed(run, sandbox)
                tg.cancel_scope.cancel()  # calls still in flight have nobody waiting for them
        if deadline.cancelled_caught and run.done is None and run.fault is None:
            run.fault = ("timeout", ExecutionTimeoutError(f"timed out after {timeout_s:g} s", progress=run.progress()))

    async def _read(
        self, run: _Run, sandbox: BaseSandbox, tg: TaskGroup, catalog: Catalog, hooks: ExecutionHooks
    ) -> None:
        decoder = FrameDecoder(max_frame_bytes=self.limits.max_frame_bytes, nonce=run.nonce)
        while True:
            try:
                chunk = await sandbox.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                await _crashed(run, sandbox)
                return
            except Exception:  # a backend bug must end this execution, never escape as a gateway crash
                logger.exception("reading from sandbox %s failed", sandbox.info.id)
                await _crashed(run, sandbox)
                return
            error: FrameError | None = None
            try:
                messages = decoder.feed(chunk)
            except FrameError as e:
                error, messages = e, e.frames
            for _, message in messages:
                if not await self._handle(run, sandbox, tg, catalog, hooks, message):
                    return
            if error is not None:
                _violation(run, str(error))
                return

    async def _handle(
        self,
        run: _Run,
        sandbox: BaseSandbox,
        tg: TaskGroup,
        catalog: Catalog,
        hooks: ExecutionHooks,
        message: dict[str, Any],
    ) -> bool:
        """Act on one decoded frame; False ends the execution (done, or a fault was recorded)."""
        try:
            frame = _FRAME_ADAPTER.validate_python(message)
        except ValidationError as e:
            first = e.errors()[0] if e.error_count() else None
            where = ".".join(str(part) for part in first["loc"]) if first else ""
            detail = f"{first['msg']} at {where!r}" if first else str(e)
            _violation(run, f"malformed {str(message.get('type'))[:40]!r} frame: {detail}")
            return False
        match frame:
            case _StartedFrame():
                run.started = True
            case _OutputFrame(stream=stream, data=data):
                (run.stdout if stream == "stdout" else run.stderr).add(data)
            case _DoneFrame():
                run.done = frame
                return False
            case _CallFrame():
                tool = catalog.tool(frame.tool)
                if tool is None:
                    _violation(run, f"call to unknown tool {frame.tool[:200]!r}")
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
                tg.start_soon(self._call, run, sandbox, tool, frame, hooks, token)
            case _:  # pragma: no cover - exhaustive
                assert_never(frame)
        return True

    async def _call(
        self,
        run: _Run,
        sandbox: BaseSandbox,
        tool: CatalogTool,
        frame: _CallFrame,
        hooks: ExecutionHooks,
        token: object,
    ) -> None:
        try:
            result = await self._invoke(run, tool, frame.arguments)
        finally:
            run.limiter.release_on_behalf_of(token)
        data, ok = _result_frame(run.nonce, frame.id, result, tool, self.limits.max_result_bytes)
        run.in_flight.discard(frame.id)
        run.completed += 1
        run.result_bytes += len(data)
        await _send(run, sandbox, data)
        if hooks.on_tool_call_done is not None:
            try:
                await hooks.on_tool_call_done(tool.ref, ok, run.completed)
            except Exception:  # a caller's progress hook must never break the execution
                logger.exception("on_tool_call_done hook failed")

    async def _invoke(self, run: _Run, tool: CatalogTool, arguments: Mapping[str, JsonValue]) -> ToolResult | str:
        """The tool's result, or the message of the `ToolError` the code will see.

        `tool_call_timeout_s` bounds the call, but not the time a wrapper spends waiting on a human
        (an approval question, `CallOptions.suspend`): that stops this call's clock and the execution's.
        """
        label = tool.id
        timeout_s = self.limits.tool_call_timeout_s
        try:
            with anyio.CancelScope(deadline=anyio.current_time() + timeout_s) as scope:
                call = _Deadline(scope)
                options: CallOptions = {"timeout_s": timeout_s, "suspend": lambda: run.suspended(call)}
                return await self.source.call_tool(tool.ref, arguments, options=options)
        except TimeoutError:  # the source's own timeout (the fleet applies timeout_s per call)
            pass
        except UpstreamError as e:
            return f"{label}: {e}"
        except Exception as e:  # a broken tool source must fail one call, not the gateway
            logger.exception("tool source failed calling %s", tool.ref)
            return f"{label}: internal gateway error ({type(e).__name__})"
        return f"{label}: no answer within {timeout_s:g} s (tool_call_timeout_s)"


# --- Helpers ------------------------------------------------------------------------------------


async def _send(run: _Run, sandbox: BaseSandbox, data: bytes) -> bool:
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


def _violation(run: _Run, detail: str) -> None:
    run.fault = (
        "protocol",
        ProtocolViolationError(
            f"the sandbox sent a bad frame ({detail}); the execution was stopped", progress=run.progress()
        ),
    )


async def _crashed(run: _Run, sandbox: BaseSandbox) -> None:
    status = await _exit_status(sandbox)
    if status is None:
        how = "closed its output"
    elif status in _OOM_STATUSES:
        how = f"was killed (exit status {status}: out of memory or a resource limit)"
    else:
        how = f"exited with status {status}"
    message = f"the sandbox runner {how} before reporting an outcome"
    try:
        diagnostics = sandbox.diagnostics().strip()
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


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _result_frame(
    nonce: str, call_id: int, result: ToolResult | str, tool: CatalogTool, max_result_bytes: int
) -> tuple[bytes, bool]:
    """Encode a call's outcome per the return convention; (frame, ok)."""
    message: ResultMessage
    if isinstance(result, str):
        message = _error_message(call_id, result)
    elif result.is_error:
        text = "\n".join(block.text for block in result.content if isinstance(block, TextContent)).strip()
        message = _error_message(call_id, text or f"{tool.id} reported an error")
    elif result.has_structured:
        message = {"type": "result", "id": call_id, "ok": True, "kind": "json", "value": result.structured}
    elif len(result.content) == 1 and isinstance(result.content[0], TextContent):
        text = result.content[0].text
        try:
            value: Any = json.loads(text, parse_constant=_reject_constant)
        except ValueError:
            message = {"type": "result", "id": call_id, "ok": True, "kind": "text", "value": text}
        else:
            message = {"type": "result", "id": call_id, "ok": True, "kind": "json", "value": value}
    else:
        blocks = [_content_block(block) for block in result.content]
        message = {"type": "result", "id": call_id, "ok": True, "kind": "content", "value": blocks}
    try:
        data = encode_frame(nonce, message)
    except (TypeError, ValueError) as e:
        return encode_frame(nonce, _error_message(call_id, f"{tool.id}: the result is not valid JSON ({e})")), False
    if len(data) > max_result_bytes:
        text = (
            f"{tool.id}: the result is {len(data)} bytes, over the max_result_bytes limit of {max_result_bytes}; "
            "ask for less (filters, pagination, smaller pages)"
        )
        return encode_frame(nonce, _error_message(call_id, text)), False
    return data, message["ok"]


def _error_message(call_id: int, text: str) -> ResultMessage:
    return {"type": "result", "id": call_id, "ok": False, "error": {"type": "ToolError", "message": text}}


def _content_block(block: Content) -> dict[str, JsonValue]:
    """A content block as the runner's `Content` object reads it (None fields are left out)."""
    fields: dict[str, JsonValue] = {"type": block.type}
    for key in ("text", "data", "mime_type", "uri", "name", "description"):
        value = getattr(block, key, None)
        if isinstance(value, str):
            fields[key] = value
    blob = getattr(block, "blob", None)
    if isinstance(blob, str):
        fields["data"] = blob
    return fields


def _result(run: _Run, limits: ExecutionLimits) -> ExecutionResult:
    done = run.done
    stdout, stdout_truncated = run.stdout.text(done.stdout_dropped if done else 0)
    stderr, stderr_truncated = run.stderr.text(done.stderr_dropped if done else 0)
    return ExecutionResult(
        stdout=stdout,
        stderr=stderr,
        error=_failure(run),
        tool_calls=run.completed,
        duration_s=run.elapsed(),
        stdout_truncated=stdout_truncated,
        stderr_truncated=stderr_truncated,
        tool_output_bytes=run.result_bytes,
    )


def _clean(text: str) -> str:
    """Text from the sandbox, safe to encode anywhere (no lone surrogates)."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _failure(run: _Run) -> ExecutionFailure | None:
    if run.fault is not None:
        kind, exc = run.fault
        return ExecutionFailure(kind=kind, type=type(exc).__name__, message=str(exc), exception=exc)
    done = run.done
    if done is None:  # pragma: no cover - _drive always records an outcome
        exc = SandboxCrashError("the sandbox ended without an outcome", progress=run.progress())
        return ExecutionFailure(kind="crash", type=type(exc).__name__, message=str(exc), exception=exc)
    if done.ok:
        return None
    error = done.error or _ErrorInfo(type="Exception", message="the code failed without details")
    error = _ErrorInfo(
        type=_clean(error.type),
        message=_clean(error.message),
        traceback=_clean(error.traceback) if error.traceback is not None else None,
        lineno=error.lineno,
    )
    if not run.started and error.type == STUB_ERROR_TYPE:
        # The runner could not even install the tools: a gateway-side fault, not the code's.
        exc = SandboxCrashError(f"the sandbox could not start the code: {error.message}", progress=run.progress())
        return ExecutionFailure(kind="crash", type=type(exc).__name__, message=str(exc), exception=exc)
    kind: FailureKind = "tool" if error.type == "ToolError" else "code"
    return ExecutionFailure(kind=kind, type=error.type, message=error.message, traceback=error.traceback)
