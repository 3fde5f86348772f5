"""The orchestrator's pure parts: Bedrock tool names, fenced code, execution reports, families."""

from __future__ import annotations

import json

from gateway.config import ModelSettings
from gateway.executor import ExecutionFailure, ExecutionResult
from gateway.models import profile_for
from gateway.orchestrator import RunStats, build_system_prompt

# Unit tests of the loop's pure parts, which no other package uses (so they are not on the front door).
from gateway.orchestrator._classic import ClassicToolset, result_text
from gateway.orchestrator._system_prompt import extract_code, format_execution
from gateway.tools import TextContent, ToolResult, ToolSpec


def test_classic_names_fit_bedrock_limits_and_map_back() -> None:
    long_tool = "x" * 80
    specs = [
        ToolSpec(server="files.v2", name="read file"),
        ToolSpec(server="files-v2", name="read_file"),  # collides with the above after sanitizing
        ToolSpec(
            server="big", name=long_tool, input_schema={"$schema": "https://json-schema.org/draft/2020-12/schema"}
        ),
        ToolSpec(server="a", name="b", description="Does b."),
    ]
    toolset = ClassicToolset.build(list(reversed(specs)))
    names = [d.name for d in toolset.definitions]
    assert names == [d.name for d in ClassicToolset.build(specs).definitions]  # order-independent
    assert all(len(n) <= 64 and all(c.isalnum() or c in "_-" for c in n) for n in names)
    assert len(set(names)) == 4
    assert {str(ref) for ref in toolset.refs.values()} == {
        "files.v2/read file",
        "files-v2/read_file",
        f"big/{long_tool}",
        "a/b",
    }
    big = next(d for d in toolset.definitions if toolset.refs[d.name].server == "big")
    assert big.input_schema == {"type": "object", "properties": {}}
    assert next(d for d in toolset.definitions if d.name == "a__b").description == "Does b."


def test_result_text_prefers_structured_content() -> None:
    structured = ToolResult(content=(TextContent(text='{\n  "a": 1\n}'),), structured={"a": 1}, has_structured=True)
    assert result_text(structured) == json.dumps({"a": 1})
    assert result_text(ToolResult(content=(TextContent(text="x"), TextContent(text="y")))) == "x\ny"
    assert result_text(ToolResult()) == "(no content)"


def test_extract_code() -> None:
    assert extract_code("Here:\n```python\nprint(1)\n```\nthen\n```python\nprint(2)\n```") == "print(1)\n"
    assert extract_code("```\nprint(3)\n```") == "print(3)\n"
    assert extract_code("```json\n{}\n```\n```py\nx = 1\n```") == "x = 1\n"
    assert extract_code("The answer is 4.") is None


def test_format_execution_reports_output_errors_and_caps() -> None:
    ok = ExecutionResult(stdout="é" * 100, stderr="", error=None, tool_calls=2, duration_s=0.1)
    text, is_error = format_execution(ok, limit_bytes=50)
    assert not is_error
    assert text.startswith("é" * 25)
    assert "150 more bytes cut" in text
    failure = ExecutionFailure(
        kind="code", type="KeyError", message="0", traceback='  File "<code>", line 3\nKeyError: 0\n'
    )
    bad = ExecutionResult(stdout="partial\n", stderr="warn\n", error=failure, tool_calls=1, duration_s=0.1)
    text, is_error = format_execution(bad, limit_bytes=10_000)
    assert is_error
    assert text == 'partial\n[stderr]\nwarn\n[error: the program raised]\n  File "<code>", line 3\nKeyError: 0'
    empty = ExecutionResult(stdout="", stderr="", error=None, tool_calls=0, duration_s=0.1)
    assert "printed nothing" in format_execution(empty, limit_bytes=100)[0]


def test_system_prompt_is_byte_stable() -> None:
    one = build_system_prompt("STUBS\n", tool_use=True, output_limit_bytes=20_000)
    assert one == build_system_prompt("STUBS\n", tool_use=True, output_limit_bytes=20_000)
    assert one.endswith("STUBS\n")
    assert "`execute_code` tool" in one
    assert "no `execute_code` tool" in build_system_prompt("STUBS", tool_use=False, output_limit_bytes=1)


def test_model_families() -> None:
    assert profile_for("us.anthropic.claude-sonnet-4-5-20250929-v1:0").tool_use
    assert profile_for("global.anthropic.claude-haiku-4-5-20251001-v1:0").cache_points
    assert not profile_for("anthropic.claude-3-haiku-20240307-v1:0").cache_points
    assert profile_for("eu.amazon.nova-pro-v1:0").cache_points
    assert not profile_for("meta.llama3-8b-instruct-v1:0").tool_use
    assert profile_for("us.meta.llama3-3-70b-instruct-v1:0").tool_use
    assert not profile_for("us.deepseek.r1-v1:0").tool_use
    assert profile_for("qwen.qwen3-coder-30b-a3b-v1:0").tool_use
    assert not profile_for("some.unknown-model").tool_use
    settings = ModelSettings(id="some.unknown-model", tool_use=True)
    assert profile_for(settings.id, tool_use=settings.tool_use).tool_use


def test_run_stats_json() -> None:
    stats = RunStats(
        mode="ptc",
        model_id="m",
        turns=2,
        input_tokens=10,
        output_tokens=5,
        cache_read_input_tokens=100,
        tool_calls=33,
        executions=1,
        tool_output_bytes=200,
        wall_time_s=1.5,
    )
    data = stats.to_json()
    assert data["total_input_tokens"] == 110
    assert json.loads(json.dumps(data)) == data
    assert "model turns   2" in stats.summary()
