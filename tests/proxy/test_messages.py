"""The real `anthropic` SDK against the proxy, the local Bedrock endpoint behind it: plain requests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic
import anyio
import httpx2
import pytest

from tests.bedrock.endpoint import Endpoint, Reply, ScriptedModel, ToolCall, Turn
from tests.proxy.conftest import KEY, OpenProxy

Serve = Callable[[ScriptedModel], Endpoint]
pytestmark = pytest.mark.anyio

WEATHER_TOOL: Any = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def _client(url: str, **kwargs: Any) -> anthropic.AsyncAnthropic:
    """Use as `async with _client(url) as client` (closes its connections)."""
    kwargs.setdefault("api_key", KEY)
    kwargs.setdefault("max_retries", 0)
    return anthropic.AsyncAnthropic(base_url=url, **kwargs)


def echo(turn: Turn) -> Reply:
    return Reply(text=f"You said: {turn.question()}")


async def test_plain_message(bedrock: Serve, proxy: OpenProxy) -> None:
    endpoint = bedrock(echo)
    async with proxy(fleet=False) as running, _client(running.url) as client:
        with anyio.fail_after(30):
            raw = await client.messages.with_raw_response.create(
                model="claude-haiku-4-5",
                max_tokens=100,
                system="Be brief.",
                messages=[{"role": "user", "content": "hello there"}],
            )
            message = await raw.parse()
    assert raw.headers["request-id"].startswith("req_")
    assert message.model == "claude-haiku-4-5"
    assert message.content[0].type == "text"
    assert message.content[0].text == "You said: hello there"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    [turn] = endpoint.turns
    assert turn.model_id == "us.anthropic.claude-haiku-4-5-20251001-v1:0"
    assert turn.api == "invoke"
    assert turn.system == "Be brief."


async def test_stream_accumulates_to_the_non_streaming_message(bedrock: Serve, proxy: OpenProxy) -> None:
    call = ToolCall(name="get_weather", input={"city": "Oslo"}, id="toolu_1")
    endpoint = bedrock(lambda turn: Reply(text="one two three four", tool_calls=[call]))
    params: Any = {
        "model": "claude-haiku-4-5-20251001",
        "max_tokens": 100,
        "tools": [WEATHER_TOOL],
        "messages": [{"role": "user", "content": "weather?"}],
    }
    async with proxy(fleet=False) as running, _client(running.url) as client:
        with anyio.fail_after(30):
            whole = await client.messages.create(**params)
            async with client.messages.stream(**params) as stream:
                events = [event.type async for event in stream]
                streamed = await stream.get_final_message()
    assert streamed.model_dump() == whole.model_dump()
    assert events[0] == "message_start" and events[-1] == "message_stop"
    assert "text" in events and "input_json" in events
    assert streamed.stop_reason == "tool_use"
    assert [t.api for t in endpoint.turns] == ["invoke", "invoke-with-response-stream"]


async def test_direct_tool_use_round_trip_strips_caller(bedrock: Serve, proxy: OpenProxy) -> None:
    def model(turn: Turn) -> Reply:
        if turn.index == 0:
            return Reply(tool_calls=[ToolCall(name="get_weather", input={"city": "Oslo"})])
        return Reply(text=f"It is {turn.tool_results()[0]['text']}.")

    endpoint = bedrock(model)
    messages: list[Any] = [{"role": "user", "content": "Weather in Oslo?"}]
    async with proxy(fleet=False) as running, _client(running.url) as client:
        with anyio.fail_after(30):
            first = await client.messages.create(
                model="claude-haiku-4-5", max_tokens=100, tools=[WEATHER_TOOL], messages=messages
            )
            [use] = [b for b in first.content if b.type == "tool_use"]
            assert first.stop_reason == "tool_use" and use.input == {"city": "Oslo"}
            history = [b.model_dump(exclude_none=True) for b in first.content]
            history[0]["caller"] = {"type": "direct"}  # what newer SDK responses carry; Bedrock refuses it
            messages += [
                {"role": "assistant", "content": history},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny, 21 C"}]},
            ]
            second = await client.messages.create(
                model="claude-haiku-4-5", max_tokens=100, tools=[WEATHER_TOOL], messages=messages
            )
    assert second.content[0].type == "text" and second.content[0].text == "It is sunny, 21 C."
    assert "caller" not in str(endpoint.turns[1].raw["messages"])


async def test_throttling_is_429_and_the_sdk_retries(bedrock: Serve, proxy: OpenProxy) -> None:
    endpoint = bedrock(echo)
    params: Any = {"model": "claude-haiku-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    async with proxy(fleet=False) as running:
        endpoint.throttle(1)
        async with _client(running.url, max_retries=2) as client:
            with anyio.fail_after(30):
                message = await client.messages.create(**params)
        assert message.content[0].type == "text" and endpoint.throttled == 1
        endpoint.throttle(1)
        async with _client(running.url) as client:
            with anyio.fail_after(30):
                with pytest.raises(anthropic.RateLimitError) as caught:
                    await client.messages.create(**params)
    assert caught.value.status_code == 429
    body: Any = caught.value.body
    assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
    assert body["request_id"] == caught.value.response.headers["request-id"]


async def test_service_unavailable_is_529_and_a_big_body_413(bedrock: Serve, proxy: OpenProxy) -> None:
    endpoint = bedrock(echo)
    params: Any = {"model": "claude-haiku-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    async with proxy(fleet=False, max_body_bytes=2048) as running, _client(running.url) as client:
        endpoint.unavailable(1)
        with anyio.fail_after(30):
            with pytest.raises(anthropic.InternalServerError) as overloaded:
                await client.messages.create(**params)
            with pytest.raises(anthropic.APIStatusError) as too_large:
                await client.messages.create(**{**params, "system": "x" * 4096})
    assert overloaded.value.status_code == 529
    body: Any = overloaded.value.body
    assert body["error"]["type"] == "overloaded_error"
    assert too_large.value.status_code == 413
    body = too_large.value.body
    assert body["error"]["type"] == "request_too_large"


async def test_bedrock_validation_error_is_400(bedrock: Serve, proxy: OpenProxy) -> None:
    bedrock(echo)
    document: Any = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}}
    async with proxy(fleet=False) as running, _client(running.url) as client:
        with anyio.fail_after(30):
            with pytest.raises(anthropic.BadRequestError) as caught:
                await client.messages.create(
                    model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": [document]}]
                )
    assert caught.value.status_code == 400
    assert "unsupported content type document" in caught.value.message


async def test_beta_flags_outside_the_allow_list_are_dropped(bedrock: Serve, proxy: OpenProxy) -> None:
    endpoint = bedrock(echo)
    async with proxy(fleet=False) as running, _client(running.url) as client:
        with anyio.fail_after(30):
            await client.messages.create(
                model="claude-haiku-4-5",
                max_tokens=10,
                messages=[{"role": "user", "content": "hi"}],
                extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14, code-execution-2025-08-25"},
            )
    assert endpoint.turns[0].raw["anthropic_beta"] == ["interleaved-thinking-2025-05-14"]


async def test_auth(bedrock: Serve, proxy: OpenProxy) -> None:
    bedrock(echo)
    params: Any = {"model": "claude-haiku-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    async with proxy(fleet=False, api_keys=["other-key", KEY]) as running:
        async with _client(running.url, api_key="wrong") as client:
            with anyio.fail_after(30):
                with pytest.raises(anthropic.AuthenticationError) as caught:
                    await client.messages.create(**params)
        async with _client(running.url, api_key=None, auth_token=KEY) as client:
            with anyio.fail_after(30):
                ok = await client.messages.create(**params)
        async with httpx2.AsyncClient() as http:
            with anyio.fail_after(30):
                missing = await http.post(f"{running.url}/v1/messages", json=params)
                health = await http.get(f"{running.url}/healthz")
                nowhere = await http.get(f"{running.url}/v1/nowhere", headers={"x-api-key": KEY})
    assert caught.value.status_code == 401
    body: Any = caught.value.body
    assert body["error"]["type"] == "authentication_error"
    assert ok.content
    assert missing.status_code == 401 and missing.json()["error"]["type"] == "authentication_error"
    assert missing.headers["request-id"] == missing.json()["request_id"]
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert nowhere.status_code == 404 and nowhere.json()["error"]["type"] == "not_found_error"


async def test_models_and_unknown_names(bedrock: Serve, proxy: OpenProxy) -> None:
    endpoint = bedrock(echo)
    hi: Any = [{"role": "user", "content": "hi"}]
    house = {"house-model": "eu.anthropic.claude-haiku-4-5-20251001-v1:0"}
    async with proxy(fleet=False, models=house) as running, _client(running.url) as client:
        with anyio.fail_after(30):
            page = await client.models.list()
            with pytest.raises(anthropic.NotFoundError) as caught:
                await client.messages.create(model="claude-nonexistent", max_tokens=10, messages=hi)
            await client.messages.create(model="house-model", max_tokens=10, messages=hi)
            await client.messages.create(model="anthropic.claude-3-haiku-20240307-v1:0", max_tokens=10, messages=hi)
    names = [m.id for m in page.data]
    assert {"claude-opus-4-6", "claude-haiku-4-5-20251001", "claude-haiku-4-5", "house-model"} <= set(names)
    assert "house-model" in caught.value.message and "claude-opus-4-6" in caught.value.message
    assert [t.model_id for t in endpoint.turns] == [
        "eu.anthropic.claude-haiku-4-5-20251001-v1:0",
        "anthropic.claude-3-haiku-20240307-v1:0",
    ]


async def test_count_tokens_uses_bedrock_count_tokens_on_the_model_s_view(bedrock: Serve, proxy: OpenProxy) -> None:
    endpoint = bedrock(echo)
    hi: Any = [{"role": "user", "content": "How many departments are there?"}]
    code_tool: Any = [{"type": "code_execution_20260120", "name": "code_execution"}]
    async with proxy() as running, _client(running.url) as client:
        with anyio.fail_after(30):
            plain = await client.messages.count_tokens(model="claude-haiku-4-5", messages=hi)
            ptc = await client.messages.count_tokens(model="claude-haiku-4-5", messages=hi, tools=code_tool)
            nova = await client.messages.count_tokens(model="amazon.nova-pro-v1:0", messages=hi, system="Be brief.")
    assert not endpoint.turns  # counting never calls the model
    first, second, third = endpoint.counted
    assert third.api == "converse" and third.system == "Be brief." and nova.input_tokens > 0
    assert first.model_id == second.model_id == "anthropic.claude-haiku-4-5-20251001-v1:0"
    assert "class expenses" in second.system and [t["name"] for t in second.tools] == ["execute_code"]
    assert 0 < plain.input_tokens < ptc.input_tokens


async def test_a_non_claude_model_goes_through_converse(bedrock: Serve, proxy: OpenProxy) -> None:
    def model(turn: Turn) -> Reply:
        if turn.index == 0:
            return Reply(text="Checking.", tool_calls=[ToolCall(name="get_weather", input={"city": "Oslo"})])
        return Reply(text=f"Oslo: {turn.tool_results()[0]['text']}")

    endpoint = bedrock(model)
    messages: list[Any] = [{"role": "user", "content": "Weather in Oslo?"}]
    params: Any = {"model": "amazon.nova-pro-v1:0", "max_tokens": 100, "tools": [WEATHER_TOOL], "system": "Be brief."}
    async with proxy(fleet=False) as running, _client(running.url) as client:
        with anyio.fail_after(30):
            first = await client.messages.create(messages=messages, **params)
            [use] = [b for b in first.content if b.type == "tool_use"]
            messages += [
                {"role": "assistant", "content": first.content},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "rain"}]},
            ]
            async with client.messages.stream(messages=messages, **params) as stream:
                second = await stream.get_final_message()
    assert first.model == "amazon.nova-pro-v1:0" and first.stop_reason == "tool_use"
    assert use.name == "get_weather" and use.input == {"city": "Oslo"}
    assert second.content[0].type == "text" and second.content[0].text == "Oslo: rain"
    assert second.usage.input_tokens > 0
    assert [t.api for t in endpoint.turns] == ["converse", "converse"]
    assert endpoint.turns[0].system == "Be brief." and endpoint.turns[0].tools[0]["name"] == "get_weather"


async def test_a_failure_after_the_stream_started_is_an_error_event(bedrock: Serve, proxy: OpenProxy) -> None:
    endpoint = bedrock(echo)
    params: Any = {"model": "claude-haiku-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    async with proxy(fleet=False) as running, _client(running.url) as client:
        endpoint.fail_next_stream("throttlingException")
        with anyio.fail_after(30):
            events: list[str] = []
            with pytest.raises(anthropic.APIStatusError) as caught:
                async with client.messages.stream(**params) as stream:
                    async for event in stream:
                        events.append(event.type)  # noqa: PERF401 - the loop is cut by the raise
    assert events == ["message_start"]
    body: Any = caught.value.body
    assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
