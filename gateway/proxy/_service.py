"""One `POST /v1/messages`: a plain pass-through to Bedrock, or a PTC loop that runs the model's code.

Plain requests (no code-execution tool) go to InvokeModel(WithResponseStream) with the client's
body, cleaned (`gateway.proxy._wire`); the stream events are Bedrock's own, passed on.

PTC requests loop: ask the model (its view of the history, `gateway.proxy._ptc.model_view`), run
the code it writes in a fresh sandbox, show it the output, until it answers, calls a direct client
tool, or the code pauses on a programmatic client-tool call (the response then carries the pending
`tool_use` blocks and the `container` to resume with).

On a backend that can detach (AgentCore's session-api channel) a pause detaches the execution: the
`container.id` carries its sealed state and the sandbox's handle, and any replica sharing
`[proxy] container_secret` resumes it (`reopen`); elsewhere the execution stays in this process.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import anyio

from gateway.app import Gateway
from gateway.config import ProxySettings
from gateway.errors import ModelError, SandboxError
from gateway.executor import Suspended, SuspendedRun, toolbox_digest
from gateway.models import BedrockMessagesClient
from gateway.proxy._converse import converse_request, from_converse
from gateway.proxy._errors import ApiError, from_model_error
from gateway.proxy._executions import CodeExecution, ExecutionStore, check_answers
from gateway.proxy._handles import ContainerHandle, HandleCodec
from gateway.proxy._modelmap import ModelMap, ResolvedModel
from gateway.proxy._ptc import (
    CODE_EXECUTION_NAME,
    EXECUTE_CODE,
    PtcSetup,
    client_result_block,
    execution_blocks,
    find_code_tool,
    model_text,
    model_view,
    new_server_tool_id,
    prepare,
    restore_execution,
    start_execution,
)
from gateway.proxy._wire import bedrock_body, check_request, message_events, new_message_id
from gateway.telemetry import ProxyTelemetry, TracedSandboxBackend

__all__ = ["MessagesService"]

logger = logging.getLogger(__name__)

_USAGE_KEYS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


@dataclass(frozen=True, slots=True, kw_only=True)
class _Paused:
    execution: CodeExecution
    blocks: list[dict[str, Any]]
    state: bytes | None = None
    """The detached execution's state (`_state_blob`), when it left this process."""


_STATE_VERSION = 1


def _state_blob(execution: CodeExecution, suspended: Suspended, calls: dict[str, int]) -> bytes:
    """What another replica needs to resume a detached execution (sealed into the `container.id`).

    Which execution, until when, the client calls' frames, the sandbox's handle and the executor's state.
    """
    return json.dumps(
        {
            "v": _STATE_VERSION,
            "k": secrets.token_hex(16),
            "t": execution.tool_use_id,
            "x": execution.expires_at,
            "c": calls,
            "h": suspended.handle.to_json(),
            "r": suspended.run.to_json(),
        },
        separators=(",", ":"),
    ).encode()


class MessagesService:
    """Answers Messages requests with Bedrock and the gateway's sandbox."""

    def __init__(
        self,
        *,
        gateway: Gateway,
        settings: ProxySettings,
        client: BedrockMessagesClient,
        store: ExecutionStore,
        codec: HandleCodec,
        telemetry: ProxyTelemetry,
    ) -> None:
        self.gateway = gateway
        self.settings = settings
        self.client = client
        self.store = store
        self.codec = codec
        self.telemetry = telemetry
        self.models = ModelMap.from_settings(settings)
        self._backend_name = gateway.settings.sandbox.backend

    def resolve(self, body: object, *, count_only: bool = False) -> tuple[dict[str, Any], ResolvedModel]:
        """The checked request and its model."""
        request = check_request(body, count_only=count_only)
        return request, self.models.resolve(request.get("model"))

    # --- non-streaming -------------------------------------------------------------------------------

    async def create(self, request: dict[str, Any], model: ResolvedModel, *, betas: list[str]) -> dict[str, Any]:
        """The whole response message."""
        code_tool = find_code_tool(cast(list[dict[str, Any]], request.get("tools", [])))
        if code_tool is None:
            response = await self.invoke(model, bedrock_body(request, betas=[] if not model.anthropic else betas))
            response["model"] = model.name
            return response
        return await self._ptc(request, model, betas=betas, message_id=new_message_id())

    async def invoke(self, model: ResolvedModel, body: Mapping[str, Any]) -> dict[str, Any]:
        """One InvokeModel call inside a `chat` span."""
        with self.telemetry.chat(model.bedrock_id, body) as record:
            try:
                if model.anthropic:
                    response = dict(await self.client.invoke(model.bedrock_id, body))
                else:
                    raw = await self.client.converse(model.bedrock_id, converse_request(body))
                    response = from_converse(raw, model=model.name)
            except ModelError as e:
                raise from_model_error(e) from e
            _check_response(response, model.bedrock_id)
            record(response)
            return response

    async def count_tokens(self, request: dict[str, Any], model: ResolvedModel, *, betas: list[str]) -> int:
        """Input tokens of the request as the model would see it (for PTC: with the rules and stubs).

        Bedrock's CountTokens; where the model does not support it, Bedrock's error is passed on
        (no estimate is made up).
        """
        body = bedrock_body(request, betas=betas)
        code_tool = find_code_tool(cast(list[dict[str, Any]], request.get("tools", [])))
        if code_tool is not None:
            setup = await prepare(self.gateway, code_tool)
            limit = self.gateway.settings.model.tool_result_max_bytes
            view = model_view(cast(list[dict[str, Any]], request["messages"]), limit_bytes=limit)
            body["system"] = _system(request.get("system"), setup.system)
            body["tools"] = setup.tools
            body["messages"] = view.messages
        try:
            if model.anthropic:
                return await self.client.count_tokens(model.bedrock_id, body)
            return await self.client.count_tokens(model.bedrock_id, converse_request(body), converse=True)
        except ModelError as e:
            raise from_model_error(e) from e

    # --- streaming ---------------------------------------------------------------------------------

    def is_ptc(self, request: dict[str, Any]) -> bool:
        """Whether the request's tools hold a code-execution tool."""
        return find_code_tool(cast(list[dict[str, Any]], request.get("tools", []))) is not None

    def stream(
        self, request: dict[str, Any], model: ResolvedModel, *, betas: list[str]
    ) -> AsyncIterator[dict[str, Any]]:
        """A plain request's stream events (PTC streams are built from the whole message by the app).

        Claude models: Bedrock's own stream. Others: one Converse call, replayed as stream events.
        """
        if not model.anthropic:
            return self._replayed(request, model, betas=betas)
        return self._passthrough(model, bedrock_body(request, betas=betas))

    async def _replayed(
        self, request: dict[str, Any], model: ResolvedModel, *, betas: list[str]
    ) -> AsyncIterator[dict[str, Any]]:
        message = await self.create(request, model, betas=betas)
        for event in message_events(message):
            yield event

    async def _passthrough(self, model: ResolvedModel, body: Mapping[str, Any]) -> AsyncIterator[dict[str, Any]]:
        end = self.telemetry.stream_chat(model.bedrock_id, body)
        summary: dict[str, Any] = {"usage": {}}
        error: str | None = "cancelled"
        try:
            async for event in self.client.invoke_stream(model.bedrock_id, body):
                data = dict(event)
                # The events go to the client as Bedrock sent them; the summary (for telemetry) takes only
                # what has the documented shape: a malformed event must not cut the client's stream.
                if data["type"] == "message_start" and isinstance(data.get("message"), dict):
                    data["message"] = {**cast(dict[str, Any], data["message"]), "model": model.name}
                    summary["usage"] = _object(cast(dict[str, Any], data["message"]).get("usage"))
                elif data["type"] == "message_delta":
                    summary["usage"].update(_object(data.get("usage")))
                    summary["stop_reason"] = _object(data.get("delta")).get("stop_reason")
                elif data["type"] == "message_stop":
                    data = {"type": "message_stop"}  # without amazon-bedrock-invocationMetrics
                yield data
            error = None
        except ModelError as e:
            error = type(e).__qualname__
            raise from_model_error(e) from e
        finally:
            end(summary, error)

    # --- programmatic tool calling -----------------------------------------------------------------

    async def _ptc(
        self, request: dict[str, Any], model: ResolvedModel, *, betas: list[str], message_id: str
    ) -> dict[str, Any]:
        return await self.ptc_begin(request, model, betas=betas, message_id=message_id).run()

    def ptc_begin(self, request: dict[str, Any], model: ResolvedModel, *, betas: list[str], message_id: str) -> _PtcRun:
        """A PTC request, ready to run (not started)."""
        return _PtcRun(self, request, model, betas=betas, message_id=message_id)

    def resume(self, request: Mapping[str, Any], tool_use_id: str, results: Mapping[str, Any]) -> CodeExecution:
        container = request.get("container")
        if isinstance(container, Mapping):
            container = cast(Mapping[str, Any], container).get("id")
        if container is None:
            raise ApiError(
                "invalid_request_error",
                "container_id is required when there are pending tool uses generated by code execution with tools.",
            )
        handle = self.codec.decode(container)
        if handle.replica != self.settings.replica_id:
            raise ApiError(
                "invalid_request_error",
                f"container: this execution is paused on proxy replica {handle.replica!r}, not on this one "
                f"({self.settings.replica_id!r}); route requests with a container to the replica named in it "
                "(see docs/proxy.md, 'Several replicas')",
            )
        execution = self.store.get(handle.execution)
        if execution is None:
            raise ApiError(
                "invalid_request_error",
                f"container: {container} has expired (a paused execution waits {self.settings.container_idle_s:g} s "
                "for tool results, then is removed) or the proxy restarted; send the request again without it",
            )
        if execution.tool_use_id != tool_use_id:
            raise ApiError(
                "invalid_request_error",
                f"container: it belongs to code execution {execution.tool_use_id}, not to {tool_use_id[:64]}",
            )
        execution.resume(results)
        return execution

    async def reopen(
        self, request: Mapping[str, Any], tool_use_id: str, results: Mapping[str, Any], setup: PtcSetup
    ) -> CodeExecution:
        """The paused execution the request resumes: held here (`resume`), or detached into its handle."""
        container = request.get("container")
        if isinstance(container, Mapping):
            container = cast(Mapping[str, Any], container).get("id")
        handle = self.codec.decode(container) if container is not None else None
        if handle is None or handle.state is None:
            return self.resume(request, tool_use_id, results)
        return await self._restore(handle.state, tool_use_id, results, setup)

    async def _restore(
        self, blob: bytes, tool_use_id: str, results: Mapping[str, Any], setup: PtcSetup
    ) -> CodeExecution:
        from gateway.sandbox import AgentCoreHandle, AgentCoreSandboxBackend  # noqa: PLC0415 - boto3 on demand

        try:
            data = json.loads(blob)
            if data["v"] != _STATE_VERSION:
                raise ValueError(f"state version {data['v']!r}")
            owner, expires_at, claim = str(data["t"]), float(data["x"]), str(data["k"])
            calls = {str(k): int(v) for k, v in dict(data["c"]).items()}
            handle = AgentCoreHandle.from_json(str(data["h"]))
            state = SuspendedRun.from_json(str(data["r"]))
        except (ValueError, KeyError, TypeError, AttributeError, SandboxError) as e:  # sealed by us: a bug
            raise ApiError("invalid_request_error", "container: unreadable container id") from e
        backend = self.gateway.backend
        if isinstance(backend, TracedSandboxBackend):
            backend = backend.inner
        if not isinstance(backend, AgentCoreSandboxBackend):
            raise ApiError(
                "invalid_request_error",
                f"container: it was detached from an AgentCore sandbox and this proxy runs {self._backend_name!r}",
            )
        if owner != tool_use_id:
            raise ApiError(
                "invalid_request_error", f"container: it belongs to code execution {owner}, not to {tool_use_id[:64]}"
            )
        if expires_at <= time.time():
            try:  # nobody held it while it waited: end the session now rather than at its lifetime
                await backend.api.stop_session(handle.session_id)
            except SandboxError:
                logger.warning("could not stop the expired AgentCore session %s", handle.session_id)
            raise ApiError(
                "invalid_request_error",
                f"container: the execution expired (a paused execution waits {self.settings.container_idle_s:g} s "
                "for tool results, then is removed); send the request again without it",
            )
        check_answers(set(calls), results)
        if toolbox_digest(setup.toolbox) != state.catalog:
            raise ApiError(
                "invalid_request_error",
                "container: the request's tools (or the gateway's fleet) changed since the execution paused; "
                "resume it with the same tools",
            )
        self.store.check_room()  # before the claim: a resume refused after it could not be retried
        try:
            if not await backend.claim(handle, claim):
                raise ApiError(
                    "invalid_request_error",
                    "container: this paused execution was resumed already (a container resumes once; a retried "
                    "request after a lost response cannot be answered again)",
                )
            sandbox = await backend.attach(handle)
        except SandboxError as e:
            raise ApiError(
                "invalid_request_error",
                f"container: the paused execution's sandbox is gone ({e}); send the request again without it",
            ) from e
        try:
            return restore_execution(
                self.gateway,
                self.store,
                setup,
                state=state,
                sandbox=sandbox,
                results={calls[tool_id]: result for tool_id, result in results.items()},
                tool_use_id=tool_use_id,
                idle_s=self.settings.container_idle_s,
                settle_s=self.settings.settle_s,
            )
        except BaseException:
            with anyio.CancelScope(shield=True):
                await sandbox.aclose()
            raise

    async def wait(self, execution: CodeExecution, setup: PtcSetup) -> _Paused | None:
        outcome = await execution.outcome(self.settings.settle_s)
        if isinstance(outcome, list):
            blocks = execution_blocks(outcome, version=setup.code_tool.version, tool_use_id=execution.tool_use_id)
            detached = await execution.detach()
            if detached is None:
                return _Paused(execution=execution, blocks=blocks)
            return _Paused(execution=execution, blocks=blocks, state=_state_blob(execution, *detached))
        return None

    def message(
        self,
        message_id: str,
        model: ResolvedModel,
        content: list[dict[str, Any]],
        stop_reason: Any,
        stop_sequence: Any,
        usage: dict[str, int],
        container: CodeExecution | None,
        state: bytes | None = None,
    ) -> dict[str, Any]:
        """The response message; `container` when an execution is paused (`state` when it was detached)."""
        handle = None
        if container is not None:
            handle = {
                "id": self.codec.encode(
                    ContainerHandle(
                        replica=self.settings.replica_id,
                        execution=container.id,
                        backend=self._backend_name,
                        state=state,
                    )
                ),
                "expires_at": datetime.fromtimestamp(container.expires_at or time.time(), UTC)
                .isoformat()
                .replace("+00:00", "Z"),
            }
        return {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model.name,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": stop_sequence,
            "usage": usage,
            "container": handle,
        }


def _object(value: object) -> dict[str, Any]:
    return dict(cast(dict[str, Any], value)) if isinstance(value, dict) else {}


def _check_response(response: Mapping[str, Any], model_id: str) -> None:
    """A model's message has the shape the proxy reads (blocks are objects with a type, a tool's input an object)."""
    content, usage = response.get("content", []), response.get("usage", {})
    if isinstance(content, list) and isinstance(usage, dict):
        blocks = cast(list[Any], content)
        if all(isinstance(b, dict) and _well_formed(cast(dict[str, Any], b)) for b in blocks):
            return
    raise ApiError("api_error", f"model {model_id!r} answered with a malformed message (content or usage)")


def _well_formed(block: dict[str, Any]) -> bool:
    kind = block.get("type")
    return isinstance(kind, str) and (kind != "tool_use" or isinstance(block.get("input", {}), dict))


def _system(client: object, ours: str) -> list[dict[str, Any]]:
    """The client's system prompt (string or blocks), then the PTC rules and stubs."""
    blocks: list[dict[str, Any]] = []
    if isinstance(client, str) and client:
        blocks.append({"type": "text", "text": client})
    elif isinstance(client, list):
        blocks += [cast(dict[str, Any], b) for b in cast(list[Any], client) if isinstance(b, dict)]
    blocks.append({"type": "text", "text": ours})
    return blocks


class _PtcRun:
    """One PTC request: check and resume first (errors before any output), then the loop."""

    def __init__(
        self,
        service: MessagesService,
        request: dict[str, Any],
        model: ResolvedModel,
        *,
        betas: list[str],
        message_id: str,
    ) -> None:
        self.service = service
        self.request = request
        self.model = model
        self.betas = betas
        self.message_id = message_id

    async def run(self) -> dict[str, Any]:
        """The whole response message."""
        service, request, model = self.service, self.request, self.model
        code_tool = find_code_tool(cast(list[dict[str, Any]], request["tools"]))
        assert code_tool is not None
        setup = await prepare(service.gateway, code_tool)
        limit = service.gateway.settings.model.tool_result_max_bytes
        view = model_view(cast(list[dict[str, Any]], request["messages"]), limit_bytes=limit)
        out: list[dict[str, Any]] = []
        usage: dict[str, int] = dict.fromkeys(_USAGE_KEYS, 0)
        execution: CodeExecution | None = None
        if view.open_execution is not None:
            execution = await service.reopen(request, view.open_execution, view.programmatic_results, setup)
        elif view.programmatic_results:
            raise ApiError(
                "invalid_request_error", "messages: tool results for programmatic calls, but no paused code execution"
            )
        body = bedrock_body(request, betas=self.betas)
        body["system"] = _system(request.get("system"), setup.system)
        body["tools"] = setup.tools
        stop_reason: Any = "end_turn"
        stop_sequence: Any = None
        for _ in range(service.settings.max_turns):
            if execution is not None:
                paused = await service.wait(execution, setup)
                if paused is not None:
                    content = out + paused.blocks
                    return service.message(
                        self.message_id, model, content, "tool_use", None, usage, paused.execution, paused.state
                    )
                block = client_result_block(execution.tool_use_id, execution.result)
                out.append(block)
                text, failed = model_text(block, limit_bytes=limit)
                result = {"type": "tool_result", "tool_use_id": execution.tool_use_id, "content": text}
                view.add("user", {**result, "is_error": failed})
                execution = None
            body["messages"] = view.messages
            response = await service.invoke(model, body)
            for key in _USAGE_KEYS:
                value = cast(dict[str, Any], response.get("usage") or {}).get(key)
                usage[key] += value if isinstance(value, int) else 0
            stop_reason, stop_sequence = response.get("stop_reason"), response.get("stop_sequence")
            for block in cast(list[dict[str, Any]], response.get("content") or []):
                if block.get("type") != "tool_use" or block.get("name") != EXECUTE_CODE:
                    out.append(block)
                    view.add("assistant", block)
                elif execution is None:  # one program per turn: the model sees only its first call
                    raw = cast(dict[str, Any], block.get("input") or {}).get("code")
                    code = raw if isinstance(raw, str) else ""
                    tool_id = new_server_tool_id()
                    out.append(
                        {"type": "server_tool_use", "id": tool_id, "name": CODE_EXECUTION_NAME, "input": {"code": code}}
                    )
                    view.add(
                        "assistant", {"type": "tool_use", "id": tool_id, "name": EXECUTE_CODE, "input": {"code": code}}
                    )
                    execution = start_execution(
                        service.gateway,
                        service.store,
                        setup,
                        code=code,
                        tool_use_id=tool_id,
                        idle_s=service.settings.container_idle_s,
                        settle_s=service.settings.settle_s,
                    )
            if execution is None:
                return service.message(self.message_id, model, out, stop_reason, stop_sequence, usage, None)
        if execution is not None:
            execution.cancel()
        return service.message(self.message_id, model, out, "max_tokens", stop_sequence, usage, None)
