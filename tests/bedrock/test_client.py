"""BedrockModelClient against the local endpoint: boto3 signs, serialises, retries and decodes for real."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from botocore.eventstream import EventStreamBuffer  # pyright: ignore[reportMissingTypeStubs]

from gateway.errors import ConfigError, ModelError
from gateway.models import (
    BedrockModelClient,
    Message,
    ModelRequest,
    TextBlock,
    ToolDefinition,
    ToolResultBlock,
    ToolUseBlock,
)
from tests.bedrock.endpoint import Endpoint, Reply, ScriptedModel, ToolCall, Turn
from tests.bedrock.eventstream import encode_event, encode_exception

Serve = Callable[[ScriptedModel], Endpoint]
CLAUDE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
LLAMA = "meta.llama3-8b-instruct-v1:0"

TOOL = ToolDefinition(
    name="execute_code",
    description="Run Python.",
    input_schema={"type": "object", "properties": {"code": {"type": "string"}}, "required": ["code"]},
)


def echo_model(turn: Turn) -> Reply:
    """Calls the tool once, then answers with what the tool said."""
    if turn.index == 0:
        return Reply(text="Let me run that.", tool_calls=[ToolCall(name="execute_code", input={"code": "print(6*7)"})])
    return Reply(text=f"The answer is {turn.tool_results()[0]['text']}.")


def first_request(question: str = "what is 6*7?") -> ModelRequest:
    return ModelRequest(
        system="You are a test.",
        messages=(Message(role="user", content=(TextBlock(text=question),)),),
        tools=(TOOL,),
        cache=True,
    )


def second_request(first: ModelRequest, assistant: Message, output: str) -> ModelRequest:
    use = assistant.tool_uses[0]
    result = Message(role="user", content=(ToolResultBlock(tool_use_id=use.id, text=output),))
    return ModelRequest(
        system=first.system, messages=(*first.messages, assistant, result), tools=first.tools, cache=True
    )


def _decode(*frames: bytes) -> list[tuple[dict[str, object], bytes]]:
    """botocore's own event-stream decoder (untyped: held as `Any` here)."""
    buffer: Any = EventStreamBuffer()
    for frame in frames:
        buffer.add_data(frame)
    return [(dict(message.headers), bytes(message.payload)) for message in buffer]


def test_event_stream_encoder_round_trips_through_botocore() -> None:
    (first_headers, first_payload), (second_headers, _) = _decode(
        encode_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "hé"}}),
        encode_exception("throttlingException", "slow down"),
    )
    assert first_headers[":event-type"] == "contentBlockDelta"
    assert first_payload == b'{"contentBlockIndex": 0, "delta": {"text": "h\\u00e9"}}'
    assert second_headers == {
        ":exception-type": "throttlingException",
        ":content-type": "application/json",
        ":message-type": "exception",
    }


@pytest.mark.anyio
@pytest.mark.parametrize("api", ["converse", "invoke"])
async def test_tool_use_round_trip(bedrock: Serve, api: str) -> None:
    endpoint = bedrock(echo_model)
    client = BedrockModelClient(model_id=CLAUDE, api="invoke" if api == "invoke" else "converse")
    with anyio.fail_after(30):
        first = first_request()
        response = await client.request(first)
        assert response.stop_reason == "tool_use"
        assert response.message.text == "Let me run that."
        (use,) = response.message.tool_uses
        assert isinstance(use, ToolUseBlock)
        assert use.name == "execute_code"
        assert use.input == {"code": "print(6*7)"}
        final = await client.request(second_request(first, response.message, "42\n"))
    assert final.stop_reason == "end_turn"
    assert final.message.text == "The answer is 42\n."
    assert final.usage.input_tokens > 0
    assert final.usage.output_tokens > 0
    # The system prompt + tools carried a cache point: the second call reads them from the cache.
    assert response.usage.cache_write_input_tokens > 0
    assert final.usage.cache_read_input_tokens == response.usage.cache_write_input_tokens
    # Signed for real with the fake static credentials.
    assert all(a.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLEFAKE/") for a in endpoint.authorizations)
    assert [t.api for t in endpoint.turns] == [api, api]
    assert endpoint.turns[1].tool_results()[0]["text"] == "42\n"


@pytest.mark.anyio
async def test_converse_stream_delivers_text_in_pieces(bedrock: Serve) -> None:
    bedrock(
        lambda turn: Reply(
            text="one two three four", tool_calls=[ToolCall(name="execute_code", input={"code": "x" * 100})]
        )
    )
    client = BedrockModelClient(model_id=CLAUDE)
    pieces: list[str] = []

    async def sink(text: str) -> None:
        pieces.append(text)

    with anyio.fail_after(30):
        response = await client.request_stream(first_request(), sink)
    assert pieces == ["one ", "two ", "three ", "four"]
    assert response.message.text == "one two three four"
    assert response.message.tool_uses[0].input == {"code": "x" * 100}
    assert response.stop_reason == "tool_use"
    assert response.usage.output_tokens > 0


@pytest.mark.anyio
async def test_no_cache_point_for_models_without_caching(bedrock: Serve) -> None:
    endpoint = bedrock(lambda turn: Reply(text="hi"))
    client = BedrockModelClient(model_id=LLAMA)
    with anyio.fail_after(30):
        await client.request(ModelRequest(system="s", messages=first_request().messages, cache=True))
    assert endpoint.turns[0].cache_point is False
    assert "toolConfig" not in endpoint.turns[0].raw


@pytest.mark.anyio
async def test_throttling_is_retried(bedrock: Serve) -> None:
    endpoint = bedrock(lambda turn: Reply(text="finally"))
    endpoint.throttle(2)
    client = BedrockModelClient(model_id=CLAUDE)
    with anyio.fail_after(60):
        response = await client.request(first_request())
    assert response.message.text == "finally"
    assert endpoint.throttled == 2
    assert len(endpoint.turns) == 1


@pytest.mark.anyio
async def test_throttling_that_outlasts_the_retries_is_a_clear_model_error(bedrock: Serve) -> None:
    endpoint = bedrock(lambda turn: Reply(text="never"))
    endpoint.throttle(10)
    client = BedrockModelClient(model_id=CLAUDE, max_attempts=2)
    with anyio.fail_after(60), pytest.raises(ModelError, match="throttled .* 2 attempts") as info:
        await client.request(first_request())
    assert info.value.retryable
    assert endpoint.throttled == 2


@pytest.mark.anyio
async def test_validation_error_is_a_clear_model_error(bedrock: Serve) -> None:
    bedrock(lambda turn: Reply(text="unused"))
    client = BedrockModelClient(model_id=CLAUDE)
    bad = ToolDefinition(name="has.dot", description="", input_schema={"type": "object"})
    request = ModelRequest(system="s", messages=first_request().messages, tools=(bad,))
    with anyio.fail_after(30), pytest.raises(ModelError, match="rejected the request") as info:
        await client.request(request)
    assert not info.value.retryable


def test_invoke_needs_a_claude_model() -> None:
    with pytest.raises(ConfigError, match="model.api"):
        BedrockModelClient(model_id=LLAMA, api="invoke")


@pytest.mark.anyio
async def test_an_exception_event_mid_stream_is_a_clear_model_error(bedrock: Serve) -> None:
    endpoint = bedrock(lambda turn: Reply(text="never seen"))
    endpoint.fail_next_stream("throttlingException")
    client = BedrockModelClient(model_id=CLAUDE)
    seen: list[str] = []

    async def sink(text: str) -> None:
        seen.append(text)

    with anyio.fail_after(30), pytest.raises(ModelError, match="throttled") as info:
        await client.request_stream(first_request(), sink)
    assert info.value.retryable
    assert seen == []


@pytest.mark.anyio
async def test_credentials_and_region_come_from_a_named_profile(
    bedrock: Serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = bedrock(lambda turn: Reply(text="hi"))
    config = tmp_path / "config"
    config.write_text("[profile work]\nregion = eu-west-3\n", encoding="utf-8")
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[work]\naws_access_key_id = AKIDPROFILEWORK\naws_secret_access_key = profile-secret\n", encoding="utf-8"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(key)
    with anyio.fail_after(30):
        await BedrockModelClient(model_id=CLAUDE, profile="work").request(first_request())
        # An explicit region wins over the profile's.
        await BedrockModelClient(model_id=CLAUDE, profile="work", region="ap-south-1").request(first_request())
    first, second = endpoint.authorizations
    assert "Credential=AKIDPROFILEWORK/" in first
    assert "/eu-west-3/bedrock/aws4_request" in first
    assert "/ap-south-1/bedrock/aws4_request" in second


@pytest.mark.anyio
async def test_aws_region_env_is_honoured(bedrock: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = bedrock(lambda turn: Reply(text="hi"))
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "ca-central-1")
    with anyio.fail_after(30):
        await BedrockModelClient(model_id=CLAUDE).request(first_request())
    assert "/ca-central-1/bedrock/aws4_request" in endpoint.authorizations[0]


@pytest.mark.anyio
async def test_missing_profile_region_and_credentials_are_clear_errors(
    bedrock: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    bedrock(lambda turn: Reply(text="unused"))
    with anyio.fail_after(30), pytest.raises(ConfigError, match="AWS profile 'nope' not found"):
        await BedrockModelClient(model_id=CLAUDE, profile="nope").request(first_request())
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with anyio.fail_after(30), pytest.raises(ModelError, match="no AWS region configured"):
        await BedrockModelClient(model_id=CLAUDE).request(first_request())
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with anyio.fail_after(30), pytest.raises(ModelError, match="no AWS credentials found"):
        await BedrockModelClient(model_id=CLAUDE).request(first_request())


@pytest.mark.anyio
async def test_a_stream_cut_mid_way_is_a_clear_model_error(bedrock: Serve) -> None:
    endpoint = bedrock(lambda turn: Reply(text="never seen in full"))
    endpoint.cut_next_stream()
    client = BedrockModelClient(model_id=CLAUDE)

    async def sink(text: str) -> None:
        pass

    with anyio.fail_after(30), pytest.raises(ModelError, match="stream .* broke") as info:
        await client.request_stream(first_request(), sink)
    assert info.value.retryable
