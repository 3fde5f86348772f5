"""Programmatic tool calling the Anthropic way, on a Bedrock model that has no code-execution tool.

Two views of one conversation:

- the client's (Anthropic's shapes): `server_tool_use` (`code_execution`, `srvtoolu_` id), then
  `code_execution_tool_result` (stdout, stderr, return_code); client-tool calls made by the code are
  `tool_use` blocks with `caller: {type: <version>, tool_id: <srvtoolu id>}` and their results come
  back in a user turn of `tool_result` blocks;
- the model's (our orchestrator's): the PTC rules and stubs in the system prompt, one `execute_code`
  tool, its result as an ordinary `tool_result`. The code's client-tool calls and their results
  never enter it (nor its token usage).

`model_view` turns the client's history into the model's on every request (the proxy keeps no
conversation state); only a paused execution lives on between requests (`gateway.proxy._executions`).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, cast

import anyio
import anyio.to_thread

from gateway.app import Gateway
from gateway.executor import DetachControl, ExecutionResult, Executor, Suspended, SuspendedRun
from gateway.orchestrator import EXECUTE_CODE_DEFINITION, build_system_prompt, cap_text
from gateway.proxy._errors import ApiError
from gateway.proxy._executions import (
    ClientToolSource,
    CodeExecution,
    ExecutionStore,
    PendingCall,
    RoutingToolSource,
)
from gateway.proxy._handles import MAX_STATE_BYTES
from gateway.proxy._wire import CODE_EXECUTION_TYPES, clean_tool, content_blocks, strip_caller
from gateway.sandbox import BaseSandbox
from gateway.stubs import Toolbox, build_toolbox
from gateway.telemetry import trace_execution
from gateway.tools import BaseToolSource, JsonObject, TextContent, ToolResult, ToolSpec

__all__ = [
    "CLIENT_NAMESPACE",
    "CodeTool",
    "ModelView",
    "PtcSetup",
    "client_result_block",
    "execution_blocks",
    "model_text",
    "model_view",
    "prepare",
    "tool_result",
]

logger = logging.getLogger(__name__)

CLIENT_NAMESPACE = "client"
"""The server key (and namespace) under which the client's programmatic tools appear in the code."""
CODE_EXECUTION_NAME = "code_execution"
EXECUTE_CODE = EXECUTE_CODE_DEFINITION.name
MAX_RESULT_CHARS = 1_000_000
"""Largest client tool result handed to the code."""

_RUN_STATE_BYTES = MAX_STATE_BYTES - 8192
"""The executor's share of a detached execution's state (the rest: the handle, the client call map)."""

_CLIENT_DESCRIPTION = (
    "The calling application's own tools. Each call pauses this program until the application "
    "answers; call several at once with asyncio.gather."
)


@dataclass(frozen=True, slots=True, kw_only=True)
class CodeTool:
    """The request's code-execution tool and the tools the code may call."""

    version: str
    """The `type` of the code-execution tool (`code_execution_20250825`, …): the callers' `type`."""
    client_specs: tuple[ToolSpec, ...]
    direct_tools: tuple[dict[str, Any], ...]
    """Tools the model calls itself (cleaned for Bedrock)."""


def find_code_tool(tools: Sequence[Mapping[str, Any]]) -> CodeTool | None:
    """The code-execution tool among `tools` (PTC on), or None (a plain request)."""
    version = next((str(t["type"]) for t in tools if t.get("type") in CODE_EXECUTION_TYPES), None)
    if version is None:
        return None
    specs: list[ToolSpec] = []
    direct: list[dict[str, Any]] = []
    for tool in tools:
        if tool.get("type") in CODE_EXECUTION_TYPES:
            continue
        callers = tool.get("allowed_callers")
        callers = cast(list[Any], callers) if isinstance(callers, list) else ["direct"]
        if version in callers:
            name, schema = tool.get("name"), tool.get("input_schema")
            if not isinstance(name, str) or not isinstance(schema, dict):
                raise ApiError("invalid_request_error", "tools: a programmatic tool needs a name and an input_schema")
            description = tool.get("description")
            specs.append(
                ToolSpec(
                    server=CLIENT_NAMESPACE,
                    name=name[:128],
                    description=description if isinstance(description, str) else None,
                    input_schema=cast(JsonObject, schema),
                )
            )
        if "direct" in callers:
            direct.append(clean_tool(tool))
    return CodeTool(version=version, client_specs=tuple(specs), direct_tools=tuple(direct))


# --- the execution's result, in both views ---------------------------------------------------------


def client_result_block(tool_use_id: str, result: ExecutionResult | None) -> dict[str, Any]:
    """The `code_execution_tool_result` block the client sees."""
    if result is None:
        stdout, stderr, code = "", "the execution expired or was stopped before it finished", 1
    else:
        stdout = result.stdout
        stderr = result.stderr
        code = 0
        if result.error is not None:
            error = result.error
            detail = f"{error.type}: {error.message}"
            if error.traceback:
                tb = error.traceback.rstrip("\n")
                detail = tb if error.message in tb else f"{tb}\n{detail}"
            stderr = (stderr.rstrip("\n") + "\n" if stderr else "") + detail
            code = 1
    return {
        "type": "code_execution_tool_result",
        "tool_use_id": tool_use_id,
        "content": {
            "type": "code_execution_result",
            "stdout": stdout,
            "stderr": stderr,
            "return_code": code,
            "content": [],
        },
    }


def model_text(block: Mapping[str, Any], *, limit_bytes: int) -> tuple[str, bool]:
    """What the model reads for a `code_execution_tool_result` (the same whether live or from history)."""
    raw = block.get("content")
    content: Mapping[str, Any] = cast(Mapping[str, Any], raw) if isinstance(raw, Mapping) else {}
    stdout, stderr = str(content.get("stdout") or ""), str(content.get("stderr") or "")
    code = content.get("return_code")
    failed = code not in (0, None) or content.get("type") != "code_execution_result"
    parts: list[str] = []
    if stdout:
        parts.append(stdout.rstrip("\n"))
    if stderr:
        parts.append(("[error: the program raised]\n" if failed else "[stderr]\n") + stderr.rstrip("\n"))
    if not parts:
        parts.append("(the program printed nothing: print() the values you need)")
    return cap_text("\n".join(parts), limit_bytes), failed


def tool_result(block: Mapping[str, Any]) -> ToolResult:
    """A client's `tool_result` as the `ToolResult` the code receives (`is_error` → `ToolError`)."""
    content = block.get("content", "")
    if isinstance(content, str):
        texts = [content]
    elif isinstance(content, list):
        texts = [
            str(cast(Mapping[str, Any], c).get("text", ""))
            for c in cast(list[Any], content)
            if isinstance(c, Mapping) and cast(Mapping[str, Any], c).get("type") == "text"
        ]
    else:
        texts = []
    text = "".join(texts)[:MAX_RESULT_CHARS]
    return ToolResult(content=(TextContent(text=text),) if text else (), is_error=bool(block.get("is_error")))


# --- the model's view of the client's history -------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class ModelView:
    """The client's history as the model sees it, and what is left open in it."""

    messages: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    open_execution: str | None = None
    """The `srvtoolu_` id of a `server_tool_use` without its result (a paused execution)."""
    programmatic_results: dict[str, ToolResult] = field(default_factory=dict[str, ToolResult])
    """The last user turn's results for calls the code made."""

    def add(self, role: str, block: dict[str, Any]) -> None:
        """Append a block, merging turns of the same role."""
        if self.messages and self.messages[-1]["role"] == role:
            self.messages[-1]["content"].append(block)
        else:
            self.messages.append({"role": role, "content": [block]})


def model_view(messages: Sequence[Mapping[str, Any]], *, limit_bytes: int) -> ModelView:
    """Translate the client's history (see the module doc)."""
    view = ModelView()
    programmatic: set[str] = set()
    opened: list[str] = []
    closed: set[str] = set()
    last = len(messages) - 1
    for index, message in enumerate(messages):
        role = str(message["role"])
        for block in content_blocks(message):
            kind = block["type"]
            if role == "assistant" and kind == "server_tool_use" and block.get("name") == CODE_EXECUTION_NAME:
                opened.append(str(block.get("id")))
                view.add(
                    "assistant",
                    {"type": "tool_use", "id": block.get("id"), "name": EXECUTE_CODE, "input": block.get("input", {})},
                )
            elif role == "assistant" and kind == "code_execution_tool_result":
                closed.add(str(block.get("tool_use_id")))
                text, failed = model_text(block, limit_bytes=limit_bytes)
                view.add(
                    "user",
                    {
                        "type": "tool_result",
                        "tool_use_id": block.get("tool_use_id"),
                        "content": text,
                        "is_error": failed,
                    },
                )
            elif kind == "tool_use" and _is_programmatic(block):
                programmatic.add(str(block.get("id")))
            elif role == "user" and kind == "tool_result" and block.get("tool_use_id") in programmatic:
                if index == last:
                    view.programmatic_results[str(block["tool_use_id"])] = tool_result(block)
            else:
                view.add(role, strip_caller(block) if kind == "tool_use" else dict(block))
    still_open = [tool_id for tool_id in opened if tool_id not in closed]
    view.open_execution = still_open[-1] if still_open else None
    return view


def _is_programmatic(block: Mapping[str, Any]) -> bool:
    caller = block.get("caller")
    return isinstance(caller, Mapping) and cast(Mapping[str, Any], caller).get("type") in CODE_EXECUTION_TYPES


# --- running the code ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PtcSetup:
    """What the model sees (system text, tools) and what the code runs against, for one request's tools."""

    system: str
    tools: list[dict[str, Any]]
    code_tool: CodeTool
    toolbox: Toolbox
    """The fleet's tools plus the client's, as one catalog (the `client` namespace)."""


async def prepare(gateway: Gateway, code_tool: CodeTool) -> PtcSetup:
    """The PTC system prompt over the fleet plus the client's tools, and the model's tool list."""
    fleet_specs = list(await gateway.source.list_tools())
    if any(spec.server == CLIENT_NAMESPACE for spec in fleet_specs):
        raise ApiError(
            "api_error",
            f"the gateway's fleet has a server named {CLIENT_NAMESPACE!r}, which the proxy reserves for the "
            "client's tools; rename that server",
        )
    settings = gateway.settings
    if settings.serve.tool_name != EXECUTE_CODE:  # the prompt names the model's code tool: ours is execute_code
        settings = settings.model_copy(update={"serve": settings.serve.model_copy(update={"tool_name": EXECUTE_CODE})})
    # In a worker thread: the client's tools are the request's, and thousands of them take seconds of
    # rendering and compiling that would stall every other request on the event loop.
    toolbox = await anyio.to_thread.run_sync(
        partial(
            build_toolbox,
            [*fleet_specs, *code_tool.client_specs],
            settings=settings,
            descriptions={**gateway.fleet.descriptions(), CLIENT_NAMESPACE: _CLIENT_DESCRIPTION},
        )
    )
    system = build_system_prompt(
        toolbox.prompt.text, tool_use=True, output_limit_bytes=settings.model.tool_result_max_bytes
    )
    tools = [
        {
            "name": EXECUTE_CODE,
            "description": EXECUTE_CODE_DEFINITION.description,
            "input_schema": EXECUTE_CODE_DEFINITION.input_schema,
        },
        *code_tool.direct_tools,
    ]
    return PtcSetup(system=system, tools=tools, code_tool=code_tool, toolbox=toolbox)


def detachable(gateway: Gateway) -> bool:
    """Whether paused executions can leave this process (AgentCore's session-api channel can detach)."""
    sandbox = gateway.settings.sandbox
    return sandbox.backend == "agentcore" and sandbox.agentcore.channel == "session-api"


def start_execution(
    gateway: Gateway,
    store: ExecutionStore,
    setup: PtcSetup,
    *,
    code: str,
    tool_use_id: str,
    idle_s: float,
    settle_s: float,
) -> CodeExecution:
    """Start `code` in a fresh sandbox, in the store's task group."""
    control = DetachControl(max_state_bytes=_RUN_STATE_BYTES) if detachable(gateway) else None

    async def run(executor: Executor) -> ExecutionResult | Suspended:
        if control is None:
            return await executor.execute(code, toolbox=setup.toolbox)
        return await executor.execute_detachable(code, toolbox=setup.toolbox, control=control)

    return _start(
        gateway, store, setup, run, control, code=code, tool_use_id=tool_use_id, idle_s=idle_s, settle_s=settle_s
    )


def restore_execution(
    gateway: Gateway,
    store: ExecutionStore,
    setup: PtcSetup,
    *,
    state: SuspendedRun,
    sandbox: BaseSandbox,
    results: Mapping[int, ToolResult],
    tool_use_id: str,
    idle_s: float,
    settle_s: float,
) -> CodeExecution:
    """Continue a detached execution on `sandbox` (re-attached from its handle), in the store's task group."""
    control = DetachControl(max_state_bytes=_RUN_STATE_BYTES)

    async def run(executor: Executor) -> ExecutionResult | Suspended:
        return await executor.resume_detached(
            state, sandbox=sandbox, toolbox=setup.toolbox, results=results, control=control
        )

    return _start(
        gateway, store, setup, run, control, code="", tool_use_id=tool_use_id, idle_s=idle_s, settle_s=settle_s
    )


def _start(
    gateway: Gateway,
    store: ExecutionStore,
    setup: PtcSetup,
    run: Callable[[Executor], Awaitable[ExecutionResult | Suspended]],
    control: DetachControl | None,
    *,
    code: str,
    tool_use_id: str,
    idle_s: float,
    settle_s: float,
) -> CodeExecution:
    execution = CodeExecution(tool_use_id=tool_use_id, idle_s=idle_s, control=control)
    client = ClientToolSource(setup.code_tool.client_specs, execution.rendezvous, settle_s=settle_s)
    source = RoutingToolSource(gateway.approval_source(None), client, client_server=CLIENT_NAMESPACE)

    async def execute(tools: BaseToolSource) -> ExecutionResult | Suspended:
        executor = Executor(backend=gateway.backend, source=tools, limits=gateway.settings.limits)
        with trace_execution(gateway.telemetry, code=code) as span:
            result = await run(executor)
            if isinstance(result, ExecutionResult):
                span.finish(result)
            else:
                span.finish_detached()
        return result

    store.start(execution, execute, source)
    return execution


def execution_blocks(calls: Sequence[PendingCall], *, version: str, tool_use_id: str) -> list[dict[str, Any]]:
    """The `tool_use` blocks of a paused execution's pending client calls."""
    return [
        {
            "type": "tool_use",
            "id": call.id,
            "name": call.name,
            "input": call.input,
            "caller": {"type": version, "tool_id": tool_use_id},
        }
        for call in calls
    ]


def new_server_tool_id() -> str:
    """A fresh `srvtoolu_` id."""
    return f"srvtoolu_{secrets.token_hex(12)}"
