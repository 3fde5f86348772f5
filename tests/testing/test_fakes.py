"""The shipped test doubles: `FunctionToolSource` and `FunctionModelClient`, alone and driving the real loop."""

from __future__ import annotations

import anyio
import pytest

from gateway.config import ExecutionLimits, GatewaySettings, ModelSettings
from gateway.errors import ServerUnavailableError, UnknownToolError
from gateway.executor import ExecutionResult, Executor
from gateway.models import Message, ModelRequest, ModelResponse, TextBlock, ToolResultBlock, Usage
from gateway.orchestrator import run_ptc
from gateway.stubs import build_toolbox
from gateway.testing import (
    FunctionModelClient,
    FunctionToolSource,
    LocalProcessBackend,
    RecordedCall,
    scripted_replies,
    text_reply,
    tool_use_reply,
)
from gateway.tools import TextContent, ToolAnnotations, ToolRef, ToolResult, ToolSpec

pytestmark = pytest.mark.anyio


def crm() -> FunctionToolSource:
    source = FunctionToolSource()

    @source.tool("crm", annotations=ToolAnnotations(read_only=True))
    async def find_customer(name: str, limit: int = 10) -> dict[str, object]:
        """Find a customer by name."""
        return {"name": name, "limit": limit}

    @source.tool("crm", name="greet")
    async def greeting(name: str) -> str:
        return f"hello {name}"

    async def down() -> str:
        raise ServerUnavailableError("crm is down", server="crm")

    source.add(down, server="crm")
    return source


async def test_specs_come_from_signatures_and_docstrings() -> None:
    specs = {spec.name: spec for spec in await crm().list_tools()}
    assert sorted(specs) == ["down", "find_customer", "greet"]
    find = specs["find_customer"]
    assert find.description == "Find a customer by name."
    assert find.annotations.read_only
    assert find.input_schema["required"] == ["name"]
    properties = find.input_schema["properties"]
    assert isinstance(properties, dict)
    assert properties["limit"] == {"default": 10, "title": "Limit", "type": "integer"}
    assert specs["greet"].description is None


async def test_return_values_become_results_and_calls_are_recorded() -> None:
    source = crm()
    found = await source.call_tool(ToolRef(server="crm", name="find_customer"), {"name": "Ada"})
    assert (found.structured, found.has_structured) == ({"name": "Ada", "limit": 10}, True)
    greeted = await source.call_tool(ToolRef(server="crm", name="greet"), {"name": "Ada"}, options={"timeout_s": 2})
    assert greeted.content == (TextContent(text="hello Ada"),)
    assert [(call.ref.name, call.arguments, call.options) for call in source.calls] == [
        ("find_customer", {"name": "Ada"}, None),
        ("greet", {"name": "Ada"}, {"timeout_s": 2}),
    ]
    assert source.calls_to(ToolRef(server="crm", name="greet")) == [{"name": "Ada"}]


async def test_failures_behave_like_an_upstream() -> None:
    source = crm()
    with pytest.raises(ServerUnavailableError):
        await source.call_tool(ToolRef(server="crm", name="down"), {})
    with pytest.raises(UnknownToolError, match="no tool 'nope' on server 'crm'"):
        await source.call_tool(ToolRef(server="crm", name="nope"), {})
    assert len(source.calls) == 2, "refused calls are recorded too"
    assert source.in_flight == 0


async def test_handler_answers_listed_specs_and_relist_replaces_them() -> None:
    fixed = ToolResult(content=(TextContent(text="fixed"),))

    async def handler(call: RecordedCall) -> ToolResult:
        return fixed

    source = FunctionToolSource([ToolSpec(server="a", name="x")], handler=handler)
    assert await source.call_tool(ToolRef(server="a", name="x"), {}) is fixed
    source.relist([ToolSpec(server="a", name="y")])
    assert [spec.name for spec in await source.list_tools()] == ["y"]
    with pytest.raises(UnknownToolError):
        await source.call_tool(ToolRef(server="a", name="x"), {})


async def test_concurrency_is_counted() -> None:
    source = FunctionToolSource()
    release, all_in = anyio.Event(), anyio.Event()

    @source.tool("s")
    async def wait() -> str:
        if source.in_flight == 3:
            all_in.set()
        await release.wait()
        return "ok"

    async def call() -> None:
        await source.call_tool(ToolRef(server="s", name="wait"), {})

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(call)
        with anyio.fail_after(5):
            await all_in.wait()
        release.set()
    assert (source.in_flight, source.max_in_flight) == (0, 3)


def test_only_async_functions_are_tools() -> None:
    def sync() -> str:
        return "no"

    with pytest.raises(TypeError, match="not an async function"):
        FunctionToolSource().add(sync, server="s")  # pyright: ignore[reportArgumentType]


async def test_function_model_records_requests_and_estimates_usage() -> None:
    async def model(request: ModelRequest) -> ModelResponse:
        return text_reply(f"{len(request.messages)} message(s)")

    client = FunctionModelClient(model, model_id="anthropic.claude-test")
    request = ModelRequest(system="s" * 40, messages=(Message(role="user", content=(TextBlock(text="hi"),)),))
    response = await client.request(request)
    assert response.message.text == "1 message(s)"
    assert client.requests == [request]
    assert response.usage.input_tokens > 10 and response.usage.output_tokens > 0
    given = Usage(input_tokens=7, output_tokens=3)
    kept = FunctionModelClient(lambda _: ModelResponse(message=response.message, stop_reason="end_turn", usage=given))
    assert (await kept.request(request)).usage == given


async def test_scripted_replies_run_out_loudly() -> None:
    client = FunctionModelClient(scripted_replies([text_reply("one")]))
    request = ModelRequest(system="", messages=())
    assert (await client.request(request)).message.text == "one"
    with pytest.raises(AssertionError, match="no reply left"):
        await client.request(request)


async def test_the_fakes_drive_the_real_ptc_loop_and_executor() -> None:
    """A model function writes code; the real runner runs it; its calls reach the function tools."""
    source = crm()
    toolbox = build_toolbox(await source.list_tools(), settings=GatewaySettings())
    code = (
        "rows = await asyncio.gather(*(crm.find_customer(name=n) for n in ['Ada', 'Bob']))\n"
        "print(sorted(r['name'] for r in rows))"
    )
    seen: list[str] = []

    def model(request: ModelRequest) -> ModelResponse:
        last = request.messages[-1].content[0]
        if isinstance(last, ToolResultBlock):
            seen.append(last.text)
            return text_reply("Ada and Bob")
        assert "class crm:" in request.system, "the stubs are in the system prompt"
        return tool_use_reply("execute_code", {"code": code})

    async with LocalProcessBackend() as backend:
        executor = Executor(backend=backend, source=source, limits=ExecutionLimits())

        async def execute(code: str) -> ExecutionResult:
            return await executor.execute(code, toolbox=toolbox)

        with anyio.fail_after(60):
            result = await run_ptc(
                "who?",
                model=FunctionModelClient(model, model_id="anthropic.claude-test"),
                stubs_prompt=toolbox.prompt.text,
                execute=execute,
                settings=ModelSettings(),
            )
    assert (result.answer, result.stop) == ("Ada and Bob", "answered")
    assert "['Ada', 'Bob']" in seen[0]
    assert sorted(str(call.arguments["name"]) for call in source.calls) == ["Ada", "Bob"]
