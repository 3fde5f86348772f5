"""The boto3 `bedrock-agentcore` calls the AgentCore backend makes, off the event loop, mapped and retried.

botocore types and exceptions stop here. What the service model makes easy to get wrong, handled
in this one module:

- the session id travels in a header on `InvokeCodeInterpreter` (botocore does not require it:
  we always pass it) and in the query string on Stop/Get;
- errors arrive in two places: a `ClientError` from the call, or an `EventStreamError` while the
  stream is read, whose codes are lower camel (`throttlingException`) and which botocore's retries
  never see. Both go through `_classify`; a dropped stream surfaces as urllib3's own error;
- the call returns before the tool finishes and the wait happens while the stream is read, under
  botocore's per-read timeout: the client's read timeout is raised above the longest long poll;
- tool failures are results (`isError`, `exitCode`, `stderr`), not exceptions;
- `blob` contents are bytes in boto3 (base64 only on the wire).

Throttling and transient failures are retried here with exponential backoff and jitter (botocore's
own retries are off, so both error paths behave the same and a retried call is counted once);
everything else becomes a `SandboxUnavailableError` naming the session and the operation.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar, cast

import anyio
import anyio.to_thread
import botocore.eventstream  # pyright: ignore[reportMissingTypeStubs]
import botocore.exceptions  # pyright: ignore[reportMissingTypeStubs]
import botocore.parsers  # pyright: ignore[reportMissingTypeStubs]
import urllib3.exceptions

from gateway.aws import BotoClientOptions, LazyBotoClient
from gateway.config import AgentCoreSettings
from gateway.errors import SandboxUnavailableError

__all__ = ["IAM_ACTIONS", "AgentCoreApi", "InvokeResult", "SessionLostError", "ToolName"]

T = TypeVar("T")

ToolName = Literal[
    "executeCode",
    "executeCommand",
    "startCommandExecution",
    "getTask",
    "stopTask",
    "writeFiles",
    "readFiles",
    "listFiles",
    "removeFiles",
]

IAM_ACTIONS = (
    "bedrock-agentcore:StartCodeInterpreterSession",
    "bedrock-agentcore:InvokeCodeInterpreter",
    "bedrock-agentcore:StopCodeInterpreterSession",
    "bedrock-agentcore:GetCodeInterpreterSession",
    "bedrock-agentcore:ListCodeInterpreterSessions",
)
"""What the gateway's AWS identity must be allowed on the code interpreter (docs/agentcore.md; List is
only for reaping the sessions of crashed gateways at start-up)."""

_MAX_LIST_PAGES = 50

_RETRYABLE = frozenset({"ThrottlingException", "InternalServerException", "ServiceUnavailableException"})
_LOST = frozenset({"ResourceNotFoundException"})
_MAX_BACKOFF_S = 5.0
_MAX_TEXT_CHARS = 2000
"""Service messages are untrusted text: at most this much goes into an error."""
_BOTO_ERRORS = (
    botocore.exceptions.BotoCoreError,
    botocore.exceptions.ClientError,
    botocore.parsers.ResponseParserError,
    urllib3.exceptions.HTTPError,  # a stream dropped mid-way surfaces as urllib3's own error
    botocore.eventstream.ParserError,
)

_MALFORMED = (AttributeError, TypeError, KeyError, ValueError, IndexError, RecursionError)
"""What botocore's parser (and ours) raise on a response of the wrong shape (a list where the service model
has a structure, ...): the service's answer is untrusted input, and anything escaping as it is would end the
task group of the channel that made the call, and the backend's with it."""


class SessionLostError(SandboxUnavailableError):
    """The service no longer knows the session (it timed out, was stopped, or was lost)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class InvokeResult:
    """One tool invocation's outcome as the session reported it (a failure here is a result, not an error)."""

    is_error: bool
    stdout: str
    stderr: str
    exit_code: int | None
    task_id: str | None
    task_status: str | None
    text: str
    """The text content blocks, joined."""


class _Client(Protocol):
    def start_code_interpreter_session(self, **kwargs: Any) -> dict[str, Any]: ...
    def stop_code_interpreter_session(self, **kwargs: Any) -> dict[str, Any]: ...
    def get_code_interpreter_session(self, **kwargs: Any) -> dict[str, Any]: ...
    def invoke_code_interpreter(self, **kwargs: Any) -> dict[str, Any]: ...
    def list_code_interpreter_sessions(self, **kwargs: Any) -> dict[str, Any]: ...
    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class _Failure:
    code: str
    message: str
    retryable: bool
    lost: bool


def _classify(e: BaseException) -> _Failure:
    """Both error paths (`ClientError`; `EventStreamError`, lower-camel codes) and transport errors, in one place."""
    if isinstance(e, botocore.exceptions.ClientError):  # EventStreamError is a ClientError too
        response = cast(Mapping[str, Any], e.response)  # pyright: ignore[reportUnknownMemberType]
        error = cast(Mapping[str, Any], response.get("Error", {}))
        raw = str(error.get("Code", "Unknown"))[:100]
        code = raw[:1].upper() + raw[1:]  # throttlingException (mid-stream) == ThrottlingException (HTTP 429)
        status = int(cast(Mapping[str, Any], response.get("ResponseMetadata", {})).get("HTTPStatusCode") or 0)
        message = str(error.get("Message", ""))[:_MAX_TEXT_CHARS]
        return _Failure(code, message, code in _RETRYABLE or status >= 500, code in _LOST)
    if isinstance(
        e,
        botocore.exceptions.ConnectionError
        | botocore.exceptions.ReadTimeoutError
        | botocore.exceptions.ResponseStreamingError
        | urllib3.exceptions.HTTPError
        | botocore.eventstream.ParserError,
    ):
        return _Failure(type(e).__name__, str(e)[:_MAX_TEXT_CHARS], True, False)
    if isinstance(e, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError):
        return _Failure(
            "NoCredentials", "no AWS credentials found (environment, profile or instance role)", False, False
        )
    if isinstance(e, botocore.exceptions.NoRegionError):
        return _Failure("NoRegion", "no AWS region: set [sandbox.agentcore] region or AWS_REGION", False, False)
    return _Failure(type(e).__name__, str(e)[:_MAX_TEXT_CHARS], False, False)


def _hint(code: str) -> str:
    if code == "AccessDeniedException":
        return f" (the gateway's AWS identity needs {', '.join(IAM_ACTIONS)}; see docs/agentcore.md)"
    if code == "ServiceQuotaExceededException":
        return " (too many concurrent sessions for the account's quota: lower [sandbox] pool_size or ask for more)"
    return ""


class AgentCoreApi:
    """The four operations, each in a worker thread under this backend's own limiter, retried and mapped."""

    def __init__(self, settings: AgentCoreSettings) -> None:
        self.settings = settings
        self.code_interpreter_id = settings.code_interpreter_id
        # The endpoint comes from the chain too: AWS_ENDPOINT_URL_BEDROCK_AGENTCORE / the profile.
        self._client = LazyBotoClient[_Client](
            "bedrock-agentcore",
            region=settings.region,
            profile=settings.profile,
            profile_key="sandbox.agentcore.profile",
            options=BotoClientOptions(
                max_attempts=1,  # retried by us, for both error paths
                # The wait of a long poll happens while the event stream is read: raise the per-read timeout.
                read_timeout_s=settings.poll_wait_s + 60,
                connect_timeout_s=10,
                max_pool_connections=settings.max_parallel_calls,
            ),
            on_error=lambda e: SandboxUnavailableError(f"cannot create the AgentCore client: {e}"),
        )
        # Long polls hold a thread each for seconds: a limiter of our own keeps them off anyio's default one.
        self._limiter = anyio.CapacityLimiter(settings.max_parallel_calls)
        self.calls = 0
        """API requests made (each retry counts): the figure the cost estimates in docs/agentcore.md use."""

    async def client(self) -> _Client:
        """The boto3 client (built once, in a worker thread: it reads service models from disk)."""
        return await self._client.get()

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.aclose()

    async def _call(
        self, what: str, session_id: str | None, call: Callable[[_Client], T], *, abandon_on_cancel: bool = True
    ) -> T:
        """Run `call` in a worker thread; retry throttling and transient failures; map the rest."""
        client = await self.client()
        attempt = 0
        while True:
            self.calls += 1
            try:
                return await anyio.to_thread.run_sync(
                    call, client, abandon_on_cancel=abandon_on_cancel, limiter=self._limiter
                )
            except _BOTO_ERRORS as e:
                failure = _classify(e)
                where = f"AgentCore session {session_id}" if session_id else "AgentCore"
                text = f"{where}: {what} failed: {failure.code}: {failure.message}"
                if failure.lost and session_id:
                    raise SessionLostError(f"{text} (the session is gone: it timed out, was stopped or lost)") from e
                if failure.lost:
                    raise SandboxUnavailableError(
                        f"{text} (is [sandbox.agentcore] code_interpreter_id {self.code_interpreter_id!r} right, "
                        "and in this region?)"
                    ) from e
                if not failure.retryable:
                    raise SandboxUnavailableError(text + _hint(failure.code)) from e
                if attempt >= self.settings.max_retries:
                    raise SandboxUnavailableError(f"{text} (gave up after {attempt + 1} attempts)") from e
            except _MALFORMED as e:
                where = f"AgentCore session {session_id}" if session_id else "AgentCore"
                raise SandboxUnavailableError(
                    f"{where}: {what} failed: malformed response from the service "
                    f"({type(e).__name__}: {str(e)[:_MAX_TEXT_CHARS]})"
                ) from e
            delay = min(_MAX_BACKOFF_S, self.settings.retry_base_s * 2**attempt) * random.uniform(0.5, 1.5)  # noqa: S311 - jitter
            attempt += 1
            await anyio.sleep(delay)

    async def start_session(self, *, name: str, timeout_s: int) -> tuple[str, float]:
        """Start a session; (session id, wall-clock time it was asked for).

        One client token for every retry: a retried start whose first attempt did reach the service
        returns the same session instead of leaking a second one.
        """
        token = uuid.uuid4().hex + uuid.uuid4().hex[:8]
        asked = anyio.current_time()

        def start(client: _Client) -> str:
            response = client.start_code_interpreter_session(
                codeInterpreterIdentifier=self.code_interpreter_id,
                name=name,
                sessionTimeoutSeconds=timeout_s,
                clientToken=token,
            )
            return str(response["sessionId"])

        # Not abandoned on cancellation: a session started in an abandoned thread would leak.
        session_id = await self._call("StartCodeInterpreterSession", None, start, abandon_on_cancel=False)
        return session_id, asked

    async def stop_session(self, session_id: str) -> None:
        """Stop a session; one the service no longer knows is already stopped."""

        def stop(client: _Client) -> None:
            client.stop_code_interpreter_session(
                codeInterpreterIdentifier=self.code_interpreter_id, sessionId=session_id
            )

        try:
            await self._call("StopCodeInterpreterSession", session_id, stop, abandon_on_cancel=False)
        except SessionLostError:
            pass

    async def session_status(self, session_id: str) -> str:
        """READY or TERMINATED (`GetCodeInterpreterSession`)."""

        def get(client: _Client) -> str:
            response = client.get_code_interpreter_session(
                codeInterpreterIdentifier=self.code_interpreter_id, sessionId=session_id
            )
            return str(response.get("status", ""))

        return await self._call("GetCodeInterpreterSession", session_id, get)

    async def ready_sessions(self) -> list[tuple[str, str]]:
        """(session id, name) of the code interpreter's READY sessions (paginated, bounded)."""
        found: list[tuple[str, str]] = []
        token: str | None = None
        for _ in range(_MAX_LIST_PAGES):

            def page(client: _Client, token: str | None = token) -> dict[str, Any]:
                kwargs: dict[str, Any] = {"codeInterpreterIdentifier": self.code_interpreter_id, "maxResults": 100}
                kwargs["status"] = "READY"
                if token:
                    kwargs["nextToken"] = token
                return client.list_code_interpreter_sessions(**kwargs)

            response = await self._call("ListCodeInterpreterSessions", None, page)
            items = cast(Sequence[Mapping[str, Any]], response.get("items") or [])
            found.extend((str(item.get("sessionId", ""))[:40], str(item.get("name") or "")[:100]) for item in items)
            token = cast(str | None, response.get("nextToken"))
            if not token:
                break
        return found

    async def invoke(self, session_id: str, name: ToolName, arguments: Mapping[str, object]) -> InvokeResult:
        """Invoke one tool in the session and read its whole event stream."""

        def invoke(client: _Client) -> InvokeResult:
            response = client.invoke_code_interpreter(
                codeInterpreterIdentifier=self.code_interpreter_id,
                sessionId=session_id,  # a header; botocore would not insist
                name=name,
                arguments=dict(arguments),
            )
            stream = response["stream"]
            try:
                return _collect(stream)
            finally:
                stream.close()  # an error mid-stream must not leave the connection checked out

        return await self._call(f"InvokeCodeInterpreter({name})", session_id, invoke)


def _collect(stream: Any) -> InvokeResult:
    """Merge the `result` events of one invocation (exception events raise `EventStreamError` here)."""
    stdout: list[str] = []
    stderr: list[str] = []
    text: list[str] = []
    is_error = False
    exit_code: int | None = None
    task_id: str | None = None
    task_status: str | None = None
    for event in cast(Sequence[Mapping[str, Any]], stream):
        result = cast(Mapping[str, Any] | None, event.get("result"))
        if result is None:
            continue
        is_error = is_error or bool(result.get("isError"))
        structured = cast(Mapping[str, Any], result.get("structuredContent") or {})
        if isinstance(structured.get("stdout"), str):
            stdout.append(structured["stdout"])
        if isinstance(structured.get("stderr"), str):
            stderr.append(structured["stderr"])
        if isinstance(structured.get("exitCode"), int):
            exit_code = structured["exitCode"]
        if isinstance(structured.get("taskId"), str):
            task_id = structured["taskId"]
        if isinstance(structured.get("taskStatus"), str):
            task_status = structured["taskStatus"]
        blocks = cast(Sequence[Mapping[str, Any]], result.get("content") or [])
        text.extend(b["text"] for b in blocks if b.get("type") == "text" and isinstance(b.get("text"), str))
    return InvokeResult(
        is_error=is_error,
        stdout="".join(stdout),
        stderr="".join(stderr),
        exit_code=exit_code,
        task_id=task_id,
        task_status=task_status,
        text="".join(text),
    )
