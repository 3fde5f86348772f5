"""Request bodies per model family: what goes on the wire for Converse and the Anthropic body."""

from __future__ import annotations

from gateway.models import Message, ModelRequest, TextBlock, ToolDefinition, ToolResultBlock, ToolUseBlock, profile_for
from gateway.models._wire import anthropic_body, converse_kwargs

TOOL = ToolDefinition(name="execute_code", description="Run.", input_schema={"type": "object"})
REQUEST = ModelRequest(
    system="rules",
    messages=(
        Message(role="user", content=(TextBlock(text="q"),)),
        Message(
            role="assistant",
            content=(TextBlock(text=""), ToolUseBlock(id="t1", name="execute_code", input={"code": "1"})),
        ),
        Message(role="user", content=(ToolResultBlock(tool_use_id="t1", text="", is_error=True),)),
    ),
    tools=(TOOL,),
    max_tokens=100,
    temperature=0.0,
    cache=True,
)


def test_converse_claude_caches_system_and_tools_and_sends_status() -> None:
    model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    body = converse_kwargs(REQUEST, model_id=model, profile=profile_for(model))
    assert body["system"] == [{"text": "rules"}, {"cachePoint": {"type": "default"}}]
    assert body["toolConfig"]["tools"][-1] == {"cachePoint": {"type": "default"}}
    assert body["inferenceConfig"] == {"maxTokens": 100, "temperature": 0.0}
    # The empty text block is dropped; an empty tool result still says something.
    assert body["messages"][1]["content"] == [
        {"toolUse": {"toolUseId": "t1", "name": "execute_code", "input": {"code": "1"}}}
    ]
    result = body["messages"][2]["content"][0]["toolResult"]
    assert result == {"toolUseId": "t1", "content": [{"text": "(no output)"}], "status": "error"}


def test_converse_nova_caches_system_only_and_llama_nothing() -> None:
    nova = converse_kwargs(REQUEST, model_id="us.amazon.nova-pro-v1:0", profile=profile_for("us.amazon.nova-pro-v1:0"))
    assert nova["system"][-1] == {"cachePoint": {"type": "default"}}
    assert all("cachePoint" not in tool for tool in nova["toolConfig"]["tools"])
    assert "status" not in nova["messages"][2]["content"][0]["toolResult"]
    llama_id = "us.meta.llama3-3-70b-instruct-v1:0"
    llama = converse_kwargs(REQUEST, model_id=llama_id, profile=profile_for(llama_id))
    assert llama["system"] == [{"text": "rules"}]


def test_anthropic_body() -> None:
    model = "anthropic.claude-3-5-haiku-20241022-v1:0"
    body = anthropic_body(REQUEST, profile=profile_for(model))
    assert body["anthropic_version"] == "bedrock-2023-05-31"
    assert body["system"] == [{"type": "text", "text": "rules", "cache_control": {"type": "ephemeral"}}]
    assert body["tools"] == [
        {
            "name": "execute_code",
            "description": "Run.",
            "input_schema": {"type": "object"},
            "cache_control": {"type": "ephemeral"},
        }
    ]
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "t1", "content": "(no output)", "is_error": True}
    ]
