"""Programmatic tool calling through the proxy, with the real `anthropic` SDK as the client.

The scripted model writes code for the `execute_code` tool it is shown; the client sees Anthropic's
shapes (`server_tool_use`, `code_execution_tool_result`, `tool_use` with `caller`, `container`).
"""

from __future__ import annotations

import json
import pkgutil
import re
from collections.abc import Callable
from typing import Any

import anthropic
import anyio
import httpx2
import pytest

from gateway.proxy import CODE_EXECUTION_TYPES
from tests.bedrock.endpoint import Endpoint, Reply, ScriptedModel, ToolCall, Turn
from tests.proxy.conftest import KEY, OpenProxy

Serve = Callable[[ScriptedModel], Endpoint]
pytestmark = pytest.mark.anyio

VERSION = "code_execution_20260120"
QUERY_TOOL: Any = {
    "name": "query_database",
    "description": "Run a SQL query against the sales database; returns rows as JSON.",
    "input_schema": {"type": "object", "properties": {"sql": {"type": "string"}}, "required": ["sql"]},
    "allowed_callers": [VERSION],
}
TOOLS: Any = [{"type": VERSION, "name": "code_execution"}, QUERY_TOOL]

PARALLEL_CODE = """\
import asyncio
east, west = await asyncio.gather(
    client.query_database(sql="SELECT revenue FROM sales WHERE region = 'east'"),
    client.query_database(sql="SELECT revenue FROM sales WHERE region = 'west'"),
)
print("total:", sum(r["revenue"] for r in east + west))
"""


def code_then_answer(code: str) -> ScriptedModel:
    """Turn 0 runs `code`; the next turn answers with what it printed."""

    def model(turn: Turn) -> Reply:
        results = turn.tool_results()
        if not results:
            return Reply(text="Let me compute that.", tool_calls=[ToolCall(name="execute_code", input={"code": code})])
        return Reply(text=f"Answer: {results[0]['text'].strip()}")

    return model


def _client(url: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=url, api_key=KEY, max_retries=0)


def run_query(sql: str) -> str:
    revenue = {"east": 1200, "west": 800}["east" if "east" in sql else "west"]
    return json.dumps([{"revenue": revenue}, {"revenue": 5}])


def test_every_code_execution_version_the_sdk_knows_turns_ptc_on() -> None:
    modules = [m.name for m in pkgutil.iter_modules(anthropic.types.__path__)]
    sdk = {
        f"code_execution_{m[1]}" for m in (re.match(r"^code_execution_tool_(\d{8})_param$", n) for n in modules) if m
    }
    callers = set(
        re.findall(r"code_execution_\d{8}", str(anthropic.types.ToolParam.__annotations__["allowed_callers"]))
    )
    assert {"code_execution_20250825", "code_execution_20260120", "code_execution_20260521"} <= sdk | callers
    assert sdk | callers <= CODE_EXECUTION_TYPES


@pytest.mark.docker
async def test_fleet_only_code_runs_in_one_request(bedrock: Serve, proxy: OpenProxy) -> None:
    code = 'print(len((await expenses.list_departments())["result"]))'
    endpoint = bedrock(code_then_answer(code))
    messages: Any = [{"role": "user", "content": "How many departments are there?"}]
    async with proxy(backend="docker") as running, _client(running.url) as client:
        with anyio.fail_after(90):
            response = await client.messages.create(
                model="claude-opus-4-6",
                max_tokens=1000,
                tools=[{"type": VERSION, "name": "code_execution"}],
                messages=messages,
            )
            assert [b.type for b in response.content] == [
                "text",
                "server_tool_use",
                "code_execution_tool_result",
                "text",
            ]
            use, result = response.content[1], response.content[2]
            assert use.type == "server_tool_use" and use.name == "code_execution" and use.id.startswith("srvtoolu_")
            assert use.input == {"code": code}
            assert result.type == "code_execution_tool_result" and result.tool_use_id == use.id
            assert result.content.type == "code_execution_result"
            assert (result.content.stdout, result.content.stderr, result.content.return_code) == ("5\n", "", 0)
            assert response.content[3].type == "text" and response.content[3].text == "Answer: 5"
            assert response.stop_reason == "end_turn" and response.container is None
            # The conversation goes on with the history as the SDK returned it.
            messages += [
                {"role": "assistant", "content": response.content},
                {"role": "user", "content": "Thanks. And again?"},
            ]
            again = await client.messages.create(
                model="claude-opus-4-6",
                max_tokens=1000,
                tools=[{"type": VERSION, "name": "code_execution"}],
                messages=messages,
            )
    assert again.content[-1].type == "text" and again.content[-1].text.startswith("Answer:")
    first = endpoint.turns[0]
    assert [t["name"] for t in first.tools] == ["execute_code"]
    assert "class expenses" in first.system and "list_departments" in first.system
    # The model saw its own call and the program's output as an ordinary tool round trip.
    assert endpoint.turns[1].messages[-1]["content"][0]["text"] == "5"
    assert [m["role"] for m in endpoint.turns[2].messages] == ["user", "assistant", "user", "assistant", "user"]


@pytest.mark.docker
async def test_anthropic_programmatic_tool_calling_example_completes(bedrock: Serve, proxy: OpenProxy) -> None:
    """The Done criterion: Anthropic's PTC example loop, unmodified, against the proxy."""
    endpoint = bedrock(code_then_answer(PARALLEL_CODE))

    def program(base_url: str) -> tuple[str, list[list[str]]]:
        # --- the shape of Anthropic's programmatic-tool-calling example (sync client) ---
        client = anthropic.Anthropic(base_url=base_url, api_key=KEY)
        tools: Any = [
            {"type": "code_execution_20260120", "name": "code_execution"},
            {
                "name": "query_database",
                "description": "Run a SQL query against the sales database; returns rows as JSON.",
                "input_schema": {"type": "object", "properties": {"sql": {"type": "string"}}, "required": ["sql"]},
                "allowed_callers": ["code_execution_20260120"],
            },
        ]
        messages: Any = [{"role": "user", "content": "What is the total revenue of the east and west regions?"}]
        response = client.messages.create(model="claude-opus-4-6", max_tokens=4096, messages=messages, tools=tools)
        rounds: list[list[str]] = []
        while response.stop_reason == "tool_use":
            tool_results: Any = []
            for block in response.content:
                if block.type == "tool_use":
                    tool_results.append(
                        {"type": "tool_result", "tool_use_id": block.id, "content": run_query(block.input["sql"])}  # type: ignore[index]
                    )
            rounds.append([b.type for b in response.content])
            messages.append({"role": "assistant", "content": response.content})
            messages.append({"role": "user", "content": tool_results})
            assert response.container is not None
            response = client.messages.create(
                model="claude-opus-4-6",
                max_tokens=4096,
                container=response.container.id,
                messages=messages,
                tools=tools,
            )
        client.close()
        last = response.content[-1]
        assert last.type == "text"
        return last.text, rounds

    async with proxy(backend="docker") as running:
        with anyio.fail_after(90):
            answer, rounds = await anyio.to_thread.run_sync(program, running.url)
        assert len(running.running.store) == 0
    assert answer == "Answer: total: 2010"
    assert rounds == [["text", "server_tool_use", "tool_use", "tool_use"]]  # both calls of the gather at once
    # The code's client-tool calls and their results never reached the model.
    assert len(endpoint.turns) == 2
    seen = endpoint.turns[1].raw["messages"]
    assert not [b for m in seen for b in m["content"] if b.get("name") == "query_database"]
    assert "1200" not in json.dumps(seen)
    assert "class client:" in endpoint.turns[0].system
    assert "async def query_database(sql: str)" in endpoint.turns[0].system


async def test_paused_response_shapes_and_tool_error(bedrock: Serve, proxy: OpenProxy) -> None:
    code = """\
try:
    rows = await client.query_database(sql="SELECT 1")
    print("rows:", rows)
except ToolError as e:
    print("the query failed:", e)
"""
    bedrock(code_then_answer(code))
    messages: Any = [{"role": "user", "content": "Query it."}]
    async with proxy() as running, _client(running.url) as client:
        with anyio.fail_after(60):
            paused = await client.messages.create(
                model="claude-opus-4-6", max_tokens=1000, tools=TOOLS, messages=messages
            )
            assert paused.stop_reason == "tool_use"
            use, call = paused.content[1], paused.content[2]
            assert use.type == "server_tool_use" and call.type == "tool_use"
            assert call.name == "query_database" and call.input == {"sql": "SELECT 1"}
            assert call.caller is not None and call.caller.type == VERSION and call.caller.tool_id == use.id
            assert paused.container is not None and paused.container.id.startswith("container_")
            assert len(running.running.store) == 1
            messages += [
                {"role": "assistant", "content": paused.content},
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": call.id,
                            "content": "permission denied",
                            "is_error": True,
                        }
                    ],
                },
            ]
            done = await client.messages.create(
                model="claude-opus-4-6", max_tokens=1000, tools=TOOLS, messages=messages, container=paused.container.id
            )
    result = done.content[0]
    assert result.type == "code_execution_tool_result" and result.tool_use_id == use.id
    assert result.content.type == "code_execution_result"
    assert result.content.stdout == "the query failed: permission denied\n"
    assert done.content[-1].type == "text" and done.content[-1].text == "Answer: the query failed: permission denied"


async def test_missing_and_expired_containers_are_400(bedrock: Serve, proxy: OpenProxy) -> None:
    bedrock(code_then_answer(PARALLEL_CODE))
    messages: Any = [{"role": "user", "content": "Total?"}]
    async with proxy(container_idle_s=0.5) as running, _client(running.url) as client:
        with anyio.fail_after(60):
            paused = await client.messages.create(
                model="claude-opus-4-6", max_tokens=1000, tools=TOOLS, messages=messages
            )
            assert paused.container is not None
            [execution] = list(running.running.store)
            calls = [b for b in paused.content if b.type == "tool_use"]
            assert len(calls) == 2
            messages += [
                {"role": "assistant", "content": paused.content},
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": c.id, "content": run_query(str(c.input))} for c in calls
                    ],
                },
            ]
            with pytest.raises(anthropic.BadRequestError) as missing:
                await client.messages.create(model="claude-opus-4-6", max_tokens=1000, tools=TOOLS, messages=messages)
            await execution.closed.wait()  # the idle timeout removed it
            assert execution.expired and len(running.running.store) == 0
            with pytest.raises(anthropic.BadRequestError) as expired:
                await client.messages.create(
                    model="claude-opus-4-6",
                    max_tokens=1000,
                    tools=TOOLS,
                    messages=messages,
                    container=paused.container.id,
                )
            with pytest.raises(anthropic.BadRequestError) as forged:
                await client.messages.create(
                    model="claude-opus-4-6",
                    max_tokens=1000,
                    tools=TOOLS,
                    messages=messages,
                    container=paused.container.id[:-4] + "AAAA",
                )
    assert "container_id is required" in missing.value.message
    assert "has expired" in expired.value.message
    assert "not a container id issued by this proxy" in forged.value.message


async def test_streamed_ptc_pauses_and_finishes_like_the_non_streamed(bedrock: Serve, proxy: OpenProxy) -> None:
    endpoint = bedrock(code_then_answer(PARALLEL_CODE))
    messages: Any = [{"role": "user", "content": "Total?"}]
    async with proxy(fleet=False) as running, _client(running.url) as client:
        with anyio.fail_after(60):
            async with client.messages.stream(
                model="claude-opus-4-6", max_tokens=1000, tools=TOOLS, messages=messages
            ) as stream:
                paused = await stream.get_final_message()
            assert [b.type for b in paused.content] == ["text", "server_tool_use", "tool_use", "tool_use"]
            calls = [b for b in paused.content if b.type == "tool_use"]
            assert {json.dumps(c.input) for c in calls} == {
                json.dumps({"sql": "SELECT revenue FROM sales WHERE region = 'east'"}),
                json.dumps({"sql": "SELECT revenue FROM sales WHERE region = 'west'"}),
            }
            assert all(c.caller is not None and c.caller.tool_id == paused.content[1].id for c in calls)
            assert paused.stop_reason == "tool_use" and paused.container is not None
            messages += [
                {"role": "assistant", "content": paused.content},
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": c.id, "content": run_query(str(c.input))} for c in calls
                    ],
                },
            ]
            async with client.messages.stream(
                model="claude-opus-4-6", max_tokens=1000, tools=TOOLS, messages=messages, container=paused.container.id
            ) as stream:
                done = await stream.get_final_message()
    assert [b.type for b in done.content] == ["code_execution_tool_result", "text"]
    assert done.content[-1].type == "text" and done.content[-1].text == "Answer: total: 2010"
    assert done.usage.input_tokens > 0 and done.usage.output_tokens > 0
    assert len(endpoint.turns) == 2


async def test_ptc_on_a_converse_model(bedrock: Serve, proxy: OpenProxy) -> None:
    endpoint = bedrock(code_then_answer("print(sum(range(10)))"))
    tools: Any = [{"type": "code_execution_20250825", "name": "code_execution"}]
    async with proxy(fleet=False) as running, _client(running.url) as client:
        with anyio.fail_after(60):
            message = await client.messages.create(
                model="amazon.nova-pro-v1:0",
                max_tokens=500,
                tools=tools,
                messages=[{"role": "user", "content": "Sum?"}],
            )
    assert [b.type for b in message.content] == ["text", "server_tool_use", "code_execution_tool_result", "text"]
    assert message.content[-1].type == "text" and message.content[-1].text == "Answer: 45"
    assert [t.api for t in endpoint.turns] == ["converse", "converse"]


async def test_a_streamed_request_pings_while_code_runs(bedrock: Serve, proxy: OpenProxy) -> None:
    bedrock(code_then_answer("import asyncio\nawait asyncio.sleep(1.0)\nprint('slept')"))
    body: Any = {
        "model": "claude-opus-4-6",
        "max_tokens": 100,
        "stream": True,
        "tools": [{"type": VERSION, "name": "code_execution"}],
        "messages": [{"role": "user", "content": "Sleep."}],
    }
    async with proxy(fleet=False, ping_interval_s=0.2) as running, httpx2.AsyncClient() as http:
        with anyio.fail_after(60):
            async with http.stream("POST", f"{running.url}/v1/messages", json=body, headers={"x-api-key": KEY}) as sse:
                events = [
                    line.removeprefix("event: ") async for line in sse.aiter_lines() if line.startswith("event: ")
                ]
    assert events[0] == "message_start" and events[1] == "ping"
    assert "ping" not in events[events.index("content_block_start") :]
    assert events[-2:] == ["message_delta", "message_stop"]
