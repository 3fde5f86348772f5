"""The pure parts of the proxy: the model's view of a PTC history, container handles, SSE replay, errors."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.errors import ModelError
from gateway.proxy import (
    ApiError,
    ContainerHandle,
    HandleCodec,
    ModelMap,
    bedrock_body,
    beta_flags,
    from_model_error,
    message_events,
    model_view,
)

SRV = "srvtoolu_1"
CALLER = {"type": "code_execution_20260120", "tool_id": SRV}


def _history() -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "total?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Computing."},
                {"type": "server_tool_use", "id": SRV, "name": "code_execution", "input": {"code": "x"}},
                {"type": "tool_use", "id": "toolu_a", "name": "q", "input": {}, "caller": CALLER},
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_a", "content": "1"}]},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "code_execution_tool_result",
                    "tool_use_id": SRV,
                    "content": {"type": "code_execution_result", "stdout": "3\n", "stderr": "", "return_code": 0},
                },
                {"type": "text", "text": "3."},
            ],
        },
        {"role": "user", "content": "thanks"},
    ]


def test_model_view_drops_programmatic_calls_and_splits_the_execution_into_a_tool_round_trip() -> None:
    view = model_view(_history(), limit_bytes=1000)
    assert view.open_execution is None and view.programmatic_results == {}
    assert view.messages == [
        {"role": "user", "content": [{"type": "text", "text": "total?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Computing."},
                {"type": "tool_use", "id": SRV, "name": "execute_code", "input": {"code": "x"}},
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": SRV, "content": "3", "is_error": False}]},
        {"role": "assistant", "content": [{"type": "text", "text": "3."}]},
        {"role": "user", "content": [{"type": "text", "text": "thanks"}]},
    ]


def test_model_view_of_a_paused_history_names_the_open_execution_and_the_results() -> None:
    view = model_view(_history()[:3], limit_bytes=1000)
    assert view.open_execution == SRV
    assert list(view.programmatic_results) == ["toolu_a"]
    assert view.messages[-1]["role"] == "assistant"  # the model's view waits for the execution's result


def test_a_failed_execution_reads_as_an_error_to_the_model() -> None:
    history = _history()
    history[3]["content"][0]["content"] = {
        "type": "code_execution_result",
        "stdout": "",
        "stderr": "Traceback\nValueError: no",
        "return_code": 1,
    }
    view = model_view(history, limit_bytes=1000)
    result = view.messages[2]["content"][0]
    assert result["is_error"] is True and "ValueError: no" in result["content"]


def test_handles_are_signed() -> None:
    codec = HandleCodec(b"secret")
    handle = ContainerHandle(replica="r1", execution="abc123", backend="docker")
    encoded = codec.encode(handle)
    assert encoded.startswith("container_") and codec.decode(encoded) == handle
    with pytest.raises(ApiError) as caught:
        HandleCodec(b"other").decode(encoded)
    assert caught.value.status == 400
    for bad in ("", "container_x.y", 42, encoded + "x"):
        with pytest.raises(ApiError):
            codec.decode(bad)


def test_bedrock_body_keeps_what_bedrock_accepts_only() -> None:
    request: Any = {
        "model": "m",
        "max_tokens": 5,
        "stream": True,
        "metadata": {"user_id": "u"},
        "container": "c",
        "system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}],
        "tools": [{"name": "t", "input_schema": {"type": "object"}, "allowed_callers": ["direct"]}],
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "t", "input": {}, "caller": {}}]},
        ],
    }
    body = bedrock_body(request, betas=beta_flags("x, context-1m-2025-08-07", ["context-1m-2025-08-07"]))
    assert set(body) == {"anthropic_version", "max_tokens", "system", "tools", "messages", "anthropic_beta"}
    assert body["tools"] == [{"name": "t", "input_schema": {"type": "object"}}]
    assert body["messages"][1]["content"][0] == {"type": "tool_use", "id": "a", "name": "t", "input": {}}
    assert body["anthropic_beta"] == ["context-1m-2025-08-07"]
    assert body["system"] == request["system"]


def test_message_events_replay_every_block_kind() -> None:
    message: Any = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "text", "text": "hi"},
            {"type": "tool_use", "id": "t", "name": "n", "input": {"a": 1}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 4},
        "container": None,
    }
    events = list(message_events(message))
    deltas = [e["delta"]["type"] for e in events if e["type"] == "content_block_delta"]
    assert deltas == ["thinking_delta", "signature_delta", "text_delta", "input_json_delta"]
    assert events[-2]["delta"]["stop_reason"] == "tool_use" and events[-2]["usage"]["output_tokens"] == 4


@pytest.mark.parametrize(
    ("kind", "status"),
    [("throttled", 429), ("unavailable", 529), ("invalid", 400), ("denied", 403), ("not_found", 404), ("other", 500)],
)
def test_model_errors_map_to_the_sdk_statuses(kind: Any, status: int) -> None:
    assert from_model_error(ModelError("x", kind=kind)).status == status


def test_model_map_passes_bedrock_ids_and_arns_through() -> None:
    models = ModelMap({"a": "us.anthropic.claude-x-v1:0"})
    assert models.resolve("a").bedrock_id == "us.anthropic.claude-x-v1:0"
    assert models.resolve("meta.llama3-70b-instruct-v1:0").anthropic is False
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-x-v1:0"
    assert models.resolve(arn).bedrock_id == arn
    with pytest.raises(ApiError) as caught:
        models.resolve("gpt-5")
    assert caught.value.status == 404 and "a" in caught.value.message
