"""Malformed and hostile request bodies against the real proxy app: an Anthropic-shaped 400 naming the field,
never a 500 (plain `httpx`, since the point is a body the SDK's types would not let through)."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx2
import pytest

from tests.bedrock.endpoint import Reply, ToolCall
from tests.proxy.conftest import KEY, OpenProxy
from tests.proxy.test_messages import Serve, echo

pytestmark = pytest.mark.anyio

CODE_TOOL = {"type": "code_execution_20250825", "name": "code_execution"}
HI = [{"role": "user", "content": "hi"}]


def _body(**fields: Any) -> dict[str, Any]:
    return {"model": "claude-haiku-4-5", "max_tokens": 10, "messages": HI, **fields}


async def _post(url: str, body: bytes | dict[str, Any]) -> httpx2.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with httpx2.AsyncClient() as http:
        with anyio.fail_after(30):
            return await http.post(f"{url}/v1/messages", content=content, headers={"x-api-key": KEY})


def _assert_400(response: httpx2.Response, field: str) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert field in error["message"], error["message"]


async def test_ids_and_types_that_are_not_strings_are_400(bedrock: Serve, proxy: OpenProxy) -> None:
    bedrock(echo)
    paused_history: list[Any] = [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t", "name": "n", "input": {}, "caller": {"type": []}}],
        },
    ]
    cases: list[tuple[dict[str, Any], str]] = [
        (_body(tools=[{"type": ["custom"], "name": "a"}]), "tools.0.type"),
        (_body(tools=[{"name": {"x": 1}, "input_schema": {"type": "object"}}]), "tools.0.name"),
        (
            _body(
                tools=[CODE_TOOL], messages=[{"role": "user", "content": [{"type": "tool_result", "tool_use_id": [1]}]}]
            ),
            "messages.0.content.0.tool_use_id",
        ),
        (_body(tools=[CODE_TOOL], messages=paused_history), "messages.1.content.0.caller"),
    ]
    async with proxy(fleet=False) as running:
        for body, field in cases:
            _assert_400(await _post(running.url, body), field)


async def test_deeply_nested_bodies_are_400(bedrock: Serve, proxy: OpenProxy) -> None:
    endpoint = bedrock(echo)
    head = b'{"model":"claude-haiku-4-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"metadata":'
    async with proxy(fleet=False) as running:
        for depth in (127, 950, 100_000):  # the limit; past it but parseable; past the parser's recursion
            response = await _post(running.url, head + b"[" * depth + b"]" * depth + b"}")
            if depth == 127:
                assert response.status_code == 200, response.text
            else:
                _assert_400(response, "deeper than 128 levels")
        nested: Any = {"type": "string"}
        for _ in range(100):  # a client tool's schema 200 levels deep: refused before it is rendered
            nested = {"type": "object", "properties": {"x": nested}}
        tool = {"name": "deep", "input_schema": nested, "allowed_callers": [CODE_TOOL["type"]]}
        _assert_400(await _post(running.url, _body(tools=[CODE_TOOL, tool])), "deeper than 128 levels")
        assert (await _post(running.url, b"7")).json()["error"]["message"].startswith("the request body must be")
    assert len(endpoint.turns) == 1


async def test_malformed_fields_on_a_converse_model_are_400(bedrock: Serve, proxy: OpenProxy) -> None:
    endpoint = bedrock(echo)
    tool: dict[str, Any] = {"name": "t", "input_schema": {"type": "object"}}
    image: dict[str, Any] = {"type": "image", "source": ["not", "an", "object"]}
    use: dict[str, Any] = {"type": "tool_use", "id": "toolu_1", "name": "t", "input": [1]}
    cases: list[tuple[dict[str, Any], str]] = [
        (_body(messages=[{"role": "user", "content": [image]}]), "image.source"),
        (_body(tools=[tool], tool_choice="auto"), "tool_choice"),
        (_body(tools=[tool], tool_choice={"type": "tool", "name": 3}), "tool_choice.name"),
        (_body(tools=[{"input_schema": {"type": "object"}}]), "tools.0.name"),
        (_body(tools=[{**tool, "input_schema": "object"}]), "tools.0.input_schema"),
        (_body(tools=[{**tool, "description": ["x"]}]), "tools.0.description"),
        (_body(messages=[*HI, {"role": "assistant", "content": [use]}, *HI]), "tool_use.input"),
        (_body(temperature="hot"), "temperature"),
        (_body(stop_sequences="END"), "stop_sequences"),
    ]
    async with proxy(fleet=False) as running:
        for body, field in cases:
            _assert_400(await _post(running.url, {**body, "model": "amazon.nova-pro-v1:0"}), field)
    assert endpoint.turns == []


async def test_lone_surrogates_and_nan_are_not_json(bedrock: Serve, proxy: OpenProxy) -> None:
    endpoint = bedrock(echo)
    async with proxy(fleet=False) as running:
        for text in ("a\ud800b", "\udc00"):  # the echo model would send it back: a response that cannot be encoded
            _assert_400(await _post(running.url, _body(messages=[{"role": "user", "content": text}])), "lone surrogate")
        key_with_surrogate = json.dumps(_body(metadata={"\ud83d": 1})).encode()
        _assert_400(await _post(running.url, key_with_surrogate), "lone surrogate")
        for constant in (b"NaN", b"Infinity", b"-Infinity"):  # json.loads takes them; JSON has no such values
            raw = json.dumps(_body(temperature=0.5)).encode().replace(b"0.5", constant)
            _assert_400(await _post(running.url, raw), f"{constant.decode()} is not JSON")
        paired = await _post(running.url, _body(messages=[{"role": "user", "content": "\U0001f600 \u00e9"}]))
    assert paired.status_code == 200 and paired.json()["content"][0]["text"] == "You said: \U0001f600 \u00e9"
    assert len(endpoint.turns) == 1


async def test_a_malformed_model_message_is_an_api_error(bedrock: Serve, proxy: OpenProxy) -> None:
    bad_input: Any = ["not", "an", "object"]
    bedrock(lambda turn: Reply(text="Running.", tool_calls=[ToolCall(name="execute_code", input=bad_input)]))
    async with proxy(fleet=False) as running:
        for tools in ([CODE_TOOL], [{"name": "execute_code", "input_schema": {"type": "object"}}]):  # PTC, plain
            response = await _post(running.url, _body(tools=tools))
            assert response.status_code == 500, response.text
            error = response.json()["error"]
            assert error["type"] == "api_error" and "malformed message" in error["message"], error


async def test_a_lone_surrogate_from_the_model_is_escaped_not_a_500(bedrock: Serve, proxy: OpenProxy) -> None:
    bedrock(lambda turn: Reply(text="half a pair: \ud83d, accent: \u00e9"))
    async with proxy(fleet=False) as running:
        response = await _post(running.url, _body())
    assert response.status_code == 200, response.text
    assert response.json()["content"][0]["text"] == "half a pair: \ud83d, accent: \u00e9"


async def test_malformed_stream_events_from_the_model_pass_through(bedrock: Serve, proxy: OpenProxy) -> None:
    endpoint = bedrock(echo)
    start: Any = {"type": "message", "role": "assistant", "content": [], "usage": ["not", "an", "object"]}
    async with proxy(fleet=False) as running, httpx2.AsyncClient() as http:
        for patches in (
            {"message_delta": {"usage": [1, 2, 3], "delta": "end_turn"}},
            {"message_start": {"message": start}},
        ):
            endpoint.patch_next_stream(patches)
            with anyio.fail_after(30):
                response = await http.post(
                    f"{running.url}/v1/messages", json=_body(stream=True), headers={"x-api-key": KEY}
                )
            assert response.status_code == 200, response.text
            events = [line.removeprefix("event: ") for line in response.text.splitlines() if line.startswith("event:")]
            assert events[0] == "message_start" and events[-1] == "message_stop", events
