from __future__ import annotations

import ast
import inspect
import random
from typing import Any

import pytest

from gateway.catalog import Catalog, build_catalog
from gateway.stubs import MODULE_HEADER, render_module, render_stubs
from gateway.tools import JsonObject, ToolAnnotations, ToolSpec
from tests.stubs._corpus import SCHEMAS, edge_specs, load_file, real_catalog, real_specs
from tests.stubs._golden import check_golden

CORPUS_FILES = sorted(SCHEMAS.glob("*/*.json"))


def _exec(source: str) -> dict[str, Any]:
    ast.parse(source, feature_version=(3, 10))  # the sandbox image may run Python 3.10
    scope: dict[str, Any] = {}
    exec(compile(source, "<stubs>", "exec", dont_inherit=True), scope)
    return scope


def _check_module_matches_catalog(catalog: Catalog, scope: dict[str, Any]) -> None:
    for namespace in catalog.namespaces:
        cls = scope[namespace.python_name]
        assert isinstance(cls, type)
        assert cls.__doc__
        for tool in namespace.tools:
            function = getattr(cls, tool.python_name)
            assert inspect.iscoroutinefunction(function), tool.id
            signature = inspect.signature(function)
            assert list(signature.parameters) == list(tool.params), tool.id
            for param in tool.parameters:
                parameter = signature.parameters[param.python_name]
                assert (parameter.default is inspect.Parameter.empty) == param.required, (tool.id, param.name)
            # Keyword calls always bind.
            signature.bind(**{p.python_name: None for p in tool.parameters if p.required})


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_corpus_file_renders_a_module_that_compiles_and_matches_the_catalog(path: Any) -> None:
    catalog = build_catalog(load_file(path))
    stubs = render_stubs(catalog)
    source = render_module(catalog)
    assert source == MODULE_HEADER + "\n\n" + stubs.body
    _check_module_matches_catalog(catalog, _exec(source))


def test_real_fleet_module_contains_every_tool() -> None:
    specs = real_specs()
    catalog = build_catalog(specs)
    scope = _exec(render_module(catalog))
    _check_module_matches_catalog(catalog, scope)
    assert len(catalog.tools) == len(specs)
    assert {ns.python_name for ns in catalog.namespaces} == {"everything", "filesystem", "git", "memory", "time_tools"}


def test_whole_corpus_together_renders() -> None:
    catalog = build_catalog(real_specs() + edge_specs())
    _check_module_matches_catalog(catalog, _exec(render_module(catalog)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_output_is_identical_whatever_the_input_order(seed: int) -> None:
    specs = real_specs() + edge_specs()
    expected = render_module(build_catalog(specs))
    shuffled = list(specs)
    random.Random(seed).shuffle(shuffled)
    assert render_module(build_catalog(shuffled)) == expected


def test_golden_real_module() -> None:
    check_golden("real_module.py.txt", render_module(real_catalog()))


def test_server_instructions_become_the_namespace_docstring() -> None:
    scope = _exec(render_module(real_catalog()))
    doc = inspect.getdoc(scope["everything"]) or ""
    assert doc.startswith("Everything Reference Server\n\n# Everything Server – Server Instructions\n\nAudience:")
    assert "- Enable `toggle-simulated-logging` before debugging" in doc
    # A server that describes nothing keeps the generic line.
    assert scope["time_tools"].__doc__ == "Tools of the MCP server 'time'."


def test_golden_edge_module() -> None:
    check_golden("edge_module.py.txt", render_module(build_catalog(edge_specs())))


def _one(schema: dict[str, Any], output: dict[str, Any] | None = None, **kw: Any) -> str:
    spec = ToolSpec(server="s", name="t", input_schema=schema, output_schema=output, **kw)
    return render_stubs(build_catalog([spec])).body


def test_required_first_then_optional_with_defaults_or_none() -> None:
    body = _one(
        {
            "type": "object",
            "properties": {
                "limit": {"type": "integer", "default": 10},
                "query": {"type": "string"},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["query"],
        }
    )
    assert "async def t(query: str, limit: int = 10, tags: list[str] | None = None) -> Any:" in body


def test_enum_const_and_type_array_render_as_literal_and_unions() -> None:
    body = _one(
        {
            "type": "object",
            "properties": {
                "order": {"enum": ["asc", "desc"]},
                "kind": {"const": "x"},
                "maybe": {"type": ["integer", "null"]},
            },
            "required": ["order", "kind", "maybe"],
        }
    )
    assert 'order: Literal["asc", "desc"], kind: Literal["x"], maybe: int | None' in body


def test_nested_objects_become_typed_dicts_and_recursion_terminates() -> None:
    body = _one(
        {
            "type": "object",
            "properties": {"root": {"$ref": "#/$defs/Node"}},
            "required": ["root"],
            "$defs": {
                "Node": {
                    "type": "object",
                    "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
                }
            },
        }
    )
    assert "class Node(TypedDict):\n    children: NotRequired[list[Node]]" in body
    assert "async def t(root: Node) -> Any:" in body


def test_return_type_from_output_schema_and_annotations_shown() -> None:
    body = _one(
        {"type": "object"},
        output={"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
        description="Count things.",
        annotations=ToolAnnotations(read_only=True),
    )
    assert "class TResult(TypedDict):\n    n: int" in body
    assert "async def t() -> TResult:" in body
    assert '"""Count things. [read-only]"""' in body
    destructive = _one({"type": "object"}, description="Drop it.", annotations=ToolAnnotations(destructive=True))
    assert '"""Drop it. [destructive]"""' in destructive


def test_maps_tuples_unions_and_mixed_enums() -> None:
    body = _one(
        {
            "type": "object",
            "properties": {
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "pair": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]},
                "either": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "number"}}]},
                "mixed": {"enum": ["a", 1, None, True]},
            },
            "required": ["labels", "pair", "either", "mixed"],
        }
    )
    assert "labels: dict[str, str]" in body
    assert "pair: tuple[str, int]" in body
    assert "either: str | list[float]" in body
    assert 'mixed: Literal["a", 1, True] | None' in body


def test_identical_nested_objects_share_one_typed_dict() -> None:
    point: JsonObject = {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}
    specs = [
        ToolSpec(server="s", name=name, input_schema={"type": "object", "properties": {"p": point}, "required": ["p"]})
        for name in ("a", "b")
    ]
    body = render_stubs(build_catalog(specs)).body
    assert body.count("(TypedDict):") == 1


def test_sixty_thousand_typed_dicts_with_one_title_are_named_in_linear_time() -> None:
    # 60 tools (a few MB of schema) whose 1,000 object parameters each all carry the title "Options", with
    # distinct bodies. Each name searched Options2, Options3… from the start: minutes on the event loop.
    count = 60_000
    specs = [
        ToolSpec(
            server="s",
            name=f"t{t:02}",
            input_schema={
                "properties": {
                    f"p{i}": {"type": "object", "title": "Options", "properties": {f"f{i}": {"type": "string"}}}
                    for i in range(t * 1000, (t + 1) * 1000)
                }
            },
        )
        for t in range(count // 1000)
    ]
    stubs = render_stubs(build_catalog(specs))
    names = [source.split("(", 1)[0].removeprefix("class ") for source in stubs.typed_dicts]
    assert names == ["Options", *(f"Options{n}" for n in range(2, count + 1))]


def test_unions_too_long_to_compile_degrade_that_parameter_to_any() -> None:
    # 5,000 `anyOf` members (a 100 KB schema) rendered as a 5,000-term `A | B | ...`: compiling that
    # chain raised RecursionError out of render_stubs, and one tool broke every server's toolbox.
    flat: JsonObject = {"anyOf": [{"const": f"v{i}"} for i in range(5_000)]}
    nested: JsonObject = {"anyOf": [{"anyOf": [{"const": f"v{i}.{j}"} for j in range(100)]} for i in range(100)]}
    specs = [
        ToolSpec(
            server="bad",
            name="t",
            input_schema={"properties": {"flat": flat, "nested": nested, "ok": {"type": "integer"}}},
        ),
        ToolSpec(server="good", name="t", input_schema={"properties": {"x": {"type": "string"}}, "required": ["x"]}),
    ]
    catalog = build_catalog(specs)
    source = render_module(catalog)
    _check_module_matches_catalog(catalog, _exec(source))
    assert "async def t(flat: Any = None, nested: Any = None, ok: int | None = None) -> Any:" in source
    assert 'flat: Schema: {"anyOf":[{"const":"v0"},' in source  # the schema, cut, in the docstring
    assert "async def t(x: str) -> Any:" in source
    small: JsonObject = {"properties": {"p": {"anyOf": [{"const": "a"}, {"type": "integer"}]}}}
    assert 'async def t(p: Literal["a"] | int | None = None)' in render_module(
        build_catalog([ToolSpec(server="s", name="t", input_schema=small)])
    )


def test_huge_enums_and_flattened_unions_render_in_linear_time() -> None:
    # A 200,000-value enum (2 MB of schema) and 256 members of 256 each (flattened: 65,536 pieces) were
    # deduplicated with list lookups: minutes of render_stubs on the event loop.
    enum: JsonObject = {"enum": [f"v{i}" for i in range(200_000)] + ["v0"]}
    wide: JsonObject = {"anyOf": [{"anyOf": [{"const": f"v{i}.{j}"} for j in range(256)]} for i in range(256)]}
    schema: JsonObject = {"properties": {"enum": enum, "wide": wide}, "required": ["enum", "wide"]}
    source = render_module(build_catalog([ToolSpec(server="s", name="t", input_schema=schema)]))
    literal = 'enum: Literal["v0", "v1", ' + ", ".join(f'"v{i}"' for i in range(2, 200_000)) + "]"
    assert f"    {literal},\n        wide: Any,\n" in source


def test_a_schema_whose_union_members_multiply_the_work_degrades_that_tool_to_any(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Each level's 4 members re-render the level below them (merged into each member): 4**12 renders of a
    # 1 KB schema, hours of render_stubs on the event loop for the whole fleet.
    schema: JsonObject = {"type": "string"}
    for _ in range(12):
        schema = {
            "properties": {"x": schema},
            "anyOf": [{"additionalProperties": {"description": str(i)}} for i in range(4)],
        }
    specs = [
        ToolSpec(server="bad", name="t", input_schema={"properties": {"p": schema}}),
        ToolSpec(server="good", name="t", input_schema={"properties": {"x": {"type": "string"}}, "required": ["x"]}),
    ]
    catalog = build_catalog(specs)
    source = render_module(catalog)
    _check_module_matches_catalog(catalog, _exec(source))
    bad, good = (source.split(f"class {name}:", 1)[1] for name in ("bad", "good"))
    assert "async def t(p: Any = None) -> Any:" in bad
    assert "async def t(x: str) -> Any:" in good
    assert "could not render the stub of bad.t (the schema takes more than 100000 steps to render); using Any" in (
        caplog.text
    )


def test_unexpressible_schema_degrades_to_any_with_fragment_in_docstring() -> None:
    body = _one({"type": "object", "properties": {"x": {"not": {"type": "string"}}}, "required": ["x"]})
    assert "async def t(x: Any) -> Any:" in body
    assert 'x: Schema: {"not":{"type":"string"}}' in body


def test_formats_ranges_and_patterns_are_noted() -> None:
    body = _one(
        {
            "type": "object",
            "properties": {
                "when": {"type": "string", "format": "date-time", "description": "When."},
                "n": {"type": "integer", "minimum": 1, "maximum": 5},
                "code": {"type": "string", "pattern": "^[A-Z]+$"},
            },
        }
    )
    assert "when: When. Format: date-time." in body
    assert "n: Range: 1 <= x <= 5." in body
    assert "code: Pattern: `^[A-Z]+$`." in body


def test_docstring_style_descriptions_are_dedented() -> None:
    # Python SDK servers send the tool function's raw docstring: first line flush, the rest indented.
    description = (
        "Return the budget.\n\n        Without an exception the standard budget applies.\n        Per quarter."
    )
    spec = ToolSpec(server="s", name="t", description=description, input_schema={"type": "object"})
    source = render_module(build_catalog([spec]))
    assert "        Without an exception the standard budget applies.\n        Per quarter." in source
    assert "                Without" not in source
