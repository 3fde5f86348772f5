from __future__ import annotations

import random

from gateway.catalog import build_catalog, python_identifier, resolve_ref
from gateway.tools import JsonObject, ToolSpec


def _spec(server: str, name: str, schema: JsonObject | None = None) -> ToolSpec:
    return ToolSpec(server=server, name=name, input_schema=schema or {"type": "object"})


def test_python_identifier_rules() -> None:
    assert python_identifier("list-staff") == "list_staff"
    assert python_identifier("files.read") == "files_read"
    assert python_identifier("my tool") == "my_tool"
    assert python_identifier("2fa") == "_2fa"
    assert python_identifier("class") == "class_"
    assert python_identifier("from") == "from_"
    assert python_identifier("") == "_"
    assert python_identifier("__init__") == "_init__"
    assert python_identifier("café") == "caf_"
    assert python_identifier("None") == "None_"


def test_server_keys_that_shadow_builtins_or_stdlib_get_tools_suffix() -> None:
    catalog = build_catalog([_spec(s, "t") for s in ["time", "json", "os", "print", "search_tools", "git", "Any"]])
    names = {ns.server: ns.python_name for ns in catalog.namespaces}
    assert names == {
        "time": "time_tools",
        "json": "json_tools",
        "os": "os_tools",
        "print": "print_tools",
        "search_tools": "search_tools_tools",
        "git": "git",
        "Any": "Any_tools",
    }


def test_tool_collisions_get_deterministic_suffixes() -> None:
    specs = [_spec("s", "a_b"), _spec("s", "a-b"), _spec("s", "a.b")]
    catalog = build_catalog(specs)
    (ns,) = catalog.namespaces
    assert [(t.spec.name, t.python_name) for t in ns.tools] == [("a_b", "a_b"), ("a-b", "a_b_2"), ("a.b", "a_b_3")]


def test_server_collisions_get_deterministic_suffixes() -> None:
    catalog = build_catalog([_spec("my-srv", "t"), _spec("my_srv", "t"), _spec("time", "t"), _spec("time_tools", "t")])
    assert {ns.server: ns.python_name for ns in catalog.namespaces} == {
        "my_srv": "my_srv",
        "my-srv": "my_srv_2",
        "time_tools": "time_tools",
        "time": "time_tools_2",
    }


def test_params_required_first_in_schema_order_with_sanitized_names() -> None:
    schema: JsonObject = {
        "type": "object",
        "properties": {"limit": {"type": "integer"}, "from": {"type": "string"}, "a-b": {}, "a_b": {}, "query": {}},
        "required": ["query", "from", "missing"],
    }
    tool = build_catalog([_spec("s", "t", schema)]).namespaces[0].tools[0]
    assert list(tool.params.items()) == [
        ("from_", "from"),
        ("query", "query"),
        ("missing", "missing"),
        ("limit", "limit"),
        ("a_b_2", "a-b"),
        ("a_b", "a_b"),
    ]
    assert [p.required for p in tool.parameters] == [True, True, True, False, False, False]


def test_params_follow_top_level_ref_and_allof() -> None:
    schema: JsonObject = {
        "$ref": "#/$defs/Args",
        "$defs": {"Args": {"type": "object", "properties": {"x": {}}, "required": ["x"]}},
        "allOf": [{"properties": {"y": {}}}],
    }
    tool = build_catalog([_spec("s", "t", schema)]).namespaces[0].tools[0]
    assert dict(tool.params) == {"x": "x", "y": "y"}


def test_pointer_array_indexes_follow_rfc_6901_and_bad_ones_resolve_to_nothing() -> None:
    root: JsonObject = {"allOf": [{"properties": {"a": {}}}, {"properties": {"b": {}}}]}
    assert resolve_ref(root, "#/allOf/1") == {"properties": {"b": {}}}
    # From an upstream schema: a Unicode digit (isdigit, but not int), more digits than int reads,
    # a leading zero, a sign, an index past the end. None of them may raise.
    for index in ("\u00b2", "\u0663", "9" * 5000, "01", "-1", "+1", "2"):
        assert resolve_ref(root, f"#/allOf/{index}") is None, index


def test_one_tool_with_a_hostile_ref_does_not_break_the_catalog() -> None:
    hostile: JsonObject = {"type": "object", "allOf": [{"$ref": "#/allOf/" + "9" * 5000}, {"$ref": "#/allOf/\u00b2"}]}
    catalog = build_catalog([_spec("bad", "t", hostile), _spec("good", "t", {"properties": {"x": {}}})])
    assert [ns.server for ns in catalog.namespaces] == ["bad", "good"]
    assert dict(catalog.namespaces[1].tools[0].params) == {"x": "x"}


def test_allof_members_that_refer_back_are_merged_once() -> None:
    # 300 members pointing back at the root: merged naively, each level multiplies the walk by 300
    # (300**4 visits within the merge depth: hours of CPU on the event loop, from a 4 KB schema).
    looping: JsonObject = {
        "type": "object",
        "properties": {"x": {"type": "string"}},
        "required": ["x"],
        "allOf": [*({"$ref": "#"} for _ in range(300)), {"properties": {"y": {}}}],
    }
    catalog = build_catalog([_spec("loop", "t", looping), _spec("good", "t", {"properties": {"z": {}}})])
    good, loop = (ns.tools[0] for ns in catalog.namespaces)
    assert [(p.name, p.required) for p in loop.parameters] == [("x", True), ("y", False)]
    assert dict(good.params) == {"z": "z"}


def test_a_hundred_thousand_colliding_names_are_named_in_linear_time() -> None:
    # One tools/list page of 8 MB holds this many names that all sanitize to `t__`. Each loser searched
    # the suffixes from `_2` up: 5e9 lookups, minutes on the event loop for one server's listing.
    count = 100_000
    names = ["t" + chr(0x4E00 + i % 20_000) + chr(0x4E00 + i // 20_000) for i in range(count)]
    catalog = build_catalog([_spec("s", name) for name in names])
    python_names = {t.spec.name: t.python_name for t in catalog.tools}
    first, *others = sorted(names)  # suffixes go in order of the original names
    assert [python_names[name] for name in (first, *others[:2], others[-1])] == ["t__", "t__2", "t__3", f"t__{count}"]
    assert sorted(python_names.values()) == sorted(["t__", *(f"t__{n}" for n in range(2, count + 1))])


def test_ids_and_lookup() -> None:
    catalog = build_catalog([_spec("time", "get-time"), _spec("git", "git_status")])
    tool = catalog.tool("time_tools.get_time")
    assert tool is not None
    assert tool.spec.name == "get-time"
    assert tool.ref.server == "time"
    assert catalog.tool("time.get_time") is None
    assert catalog.tool_for(tool.ref) is tool
    assert [t.id for t in catalog.tools] == ["git.git_status", "time_tools.get_time"]


def test_catalog_is_independent_of_input_order() -> None:
    specs = [_spec(s, t) for s in ["b", "a-b", "a_b", "time", "2x"] for t in ["x", "x-y", "x_y", "class", "9"]]
    expected = build_catalog(specs)
    rng = random.Random(1234)
    for _ in range(20):
        shuffled = list(specs)
        rng.shuffle(shuffled)
        assert build_catalog(shuffled) == expected


def test_duplicate_tool_names_are_resolved_independently_of_order() -> None:
    one = _spec("s", "t", {"type": "object", "properties": {"a": {}}})
    two = _spec("s", "t", {"type": "object", "properties": {"b": {}}})
    assert build_catalog([one, two]) == build_catalog([two, one])
    assert len(build_catalog([one, two]).tools) == 1


def test_suffix_after_a_trailing_underscore_never_makes_a_leading_dunder() -> None:
    catalog = build_catalog([_spec("s", "class"), _spec("s", "class_"), _spec("s", ""), _spec("s", "-")])
    names = {t.spec.name: t.python_name for t in catalog.tools}
    assert names == {"class_": "class_", "class": "class_2", "": "_", "-": "_2"}
    assert not any(name.startswith("__") for name in names.values())
