"""The compact-index helpers read the rendered module: one tool's stub must stand on its own."""

from __future__ import annotations

import ast
import contextlib
import io

from bridge._stub_index import StubIndex, make_help
from gateway.stubs import render_module
from tests.stubs._corpus import real_catalog


def _index() -> tuple[StubIndex, str]:
    catalog = real_catalog()
    return StubIndex(render_module(catalog), [ns.python_name for ns in catalog.namespaces]), render_module(catalog)


def _defined(text: str) -> set[str]:
    names: set[str] = set()
    for node in ast.parse(text).body:
        if isinstance(node, ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {target.id for target in node.targets if isinstance(target, ast.Name)}
    return names


def test_a_tool_stub_carries_the_typed_dicts_it_uses_transitively() -> None:
    index, _ = _index()
    text = index.text("memory", "create_entities")
    assert text is not None
    # Class form and the item type it refers to, then the function itself.
    assert "class CreateEntitiesResult(TypedDict):" in text
    assert "class CreateEntitiesEntitiesItem(TypedDict):" in text
    assert text.index("class CreateEntitiesEntitiesItem") < text.index("async def create_entities(")
    # Functional form (keys that are not identifiers, e.g. `from`) is found too.
    relations = index.text("memory", "create_relations")
    assert relations is not None and "CreateRelationsRelationsItem = TypedDict(" in relations
    # Nothing unrelated comes along.
    assert "TimeConversionResult" not in text


def test_every_tool_stub_compiles_alone_and_defines_every_name_it_uses() -> None:
    index, module = _index()
    all_types = _defined(module)
    for namespace, tool, text in index.entries:
        tree = ast.parse(text)  # stands alone: a header comment, the TypedDicts, the function
        function = tree.body[-1]
        assert isinstance(function, ast.AsyncFunctionDef), (namespace, tool)
        used = {node.id for node in ast.walk(function) if isinstance(node, ast.Name)} & all_types
        assert used <= _defined(text), (namespace, tool, used - _defined(text))


def test_help_prints_the_types_with_the_stub() -> None:
    index, _ = _index()
    out = io.StringIO()

    class _Tool:
        __ptc_tool__ = ("memory", "create_entities")

    with contextlib.redirect_stdout(out):
        make_help(index)(_Tool())
    assert "class CreateEntitiesEntitiesItem(TypedDict):" in out.getvalue()
    assert "async def create_entities(" in out.getvalue()
