from __future__ import annotations

import json

from gateway.catalog import build_catalog
from gateway.config import ExecutionLimits, StubSettings
from gateway.stubs import (
    catalog_json,
    job_namespaces,
    json_definition_bytes,
    render_preamble,
    render_prompt,
    render_stubs,
)
from tests.stubs._corpus import edge_specs, real_catalog, real_specs
from tests.stubs._golden import check_golden

LIMITS = ExecutionLimits(execution_timeout_s=20, max_tool_calls=50, max_output_bytes=64 * 1024)


def test_golden_real_prompt_full() -> None:
    prompt = render_prompt(real_catalog(), settings=StubSettings(budget_bytes=60_000), limits=LIMITS)
    assert not prompt.compact
    check_golden("real_prompt.md", prompt.text)


def test_golden_real_prompt_compact() -> None:
    prompt = render_prompt(real_catalog(), settings=StubSettings(mode="compact"), limits=LIMITS)
    assert prompt.compact
    check_golden("real_prompt_compact.md", prompt.text)


def test_preamble_states_the_contract() -> None:
    text = render_preamble(limits=LIMITS, tool_name="run_python")
    for phrase in (
        "`run_python`",
        "fresh, stateless",
        "await",
        "Only what you print comes back",
        "asyncio.gather",
        "20 s",
        "50 tool calls",
        "json.loads",
        "`type`",
        "`mime_type`",
        "`uri`",
        "ToolError",
    ):
        assert phrase in text, phrase
    assert "search_tools" not in text
    assert "search_tools" in render_preamble(limits=LIMITS, compact=True)


def test_prompt_goes_compact_above_the_budget() -> None:
    catalog = build_catalog(real_specs())
    full = render_prompt(catalog, settings=StubSettings(), limits=LIMITS)
    small = render_prompt(catalog, settings=StubSettings(budget_bytes=1000), limits=LIMITS)
    assert not full.compact and small.compact
    assert small.stub_bytes == full.stub_bytes > 1000
    assert len(small.text) < len(full.text) / 2
    assert 'await search_tools("words")' in small.text and "help(server.tool)" in small.text
    # One index line per tool.
    lines = [line for line in small.text.splitlines() if line.startswith("await ")]
    assert len(lines) == len(catalog.tools)
    assert "await git.git_log(repo_path, max_count=..., start_timestamp=..., end_timestamp=...)  # Shows" in small.text


def test_prompt_measures_stub_and_json_bytes() -> None:
    catalog = build_catalog(real_specs())
    prompt = render_prompt(catalog, settings=StubSettings(), limits=LIMITS)
    assert prompt.stub_bytes == len(render_stubs(catalog).body.encode())
    assert prompt.json_bytes == json_definition_bytes(catalog)
    assert json_definition_bytes(catalog, input_only=True) < prompt.json_bytes
    assert prompt.ratio <= 0.6


def test_empty_catalog_prompt() -> None:
    prompt = render_prompt(build_catalog([]), settings=StubSettings(), limits=LIMITS)
    assert "No tools are available" in prompt.text
    assert prompt.ratio == 0.0


def test_catalog_json_is_complete_and_serializable() -> None:
    catalog = build_catalog(real_specs() + edge_specs())
    entries = catalog_json(catalog)
    assert len(entries) == len(catalog.tools)
    text = json.dumps(entries, sort_keys=False)
    assert json.loads(text) == entries
    first = entries[0]
    assert set(first) == {
        "server",
        "namespace",
        "name",
        "python_name",
        "id",
        "title",
        "description",
        "params",
        "input_schema",
        "output_schema",
        "annotations",
    }
    assert [e["id"] for e in entries] == [t.id for t in catalog.tools]


def test_job_namespaces_match_catalog_ids_and_params() -> None:
    catalog = build_catalog(real_specs())
    namespaces = job_namespaces(catalog)
    assert [ns["name"] for ns in namespaces] == [ns.python_name for ns in catalog.namespaces]
    for spec in namespaces:
        for entry in spec["tools"]:
            tool = catalog.tool(entry["id"])
            assert tool is not None
            assert entry["name"] == tool.python_name
            assert entry["params"] == dict(tool.params)
