"""Property tests: whatever the schema, the module compiles, executes and matches the catalog."""

from __future__ import annotations

import logging
from collections.abc import Generator
from contextlib import contextmanager
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.catalog import build_catalog
from gateway.config import ExecutionLimits, StubSettings
from gateway.stubs import render_module, render_prompt
from gateway.stubs._module import MODULE_HEADER, _render  # pyright: ignore[reportPrivateUsage]
from gateway.tools import ToolSpec
from tests.stubs.test_module import (
    _check_module_matches_catalog,  # pyright: ignore[reportPrivateUsage]
    _exec,  # pyright: ignore[reportPrivateUsage]
)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=10,
)
names = st.text(max_size=10) | st.sampled_from(["class", "from", "a-b", "a.b", "2x", "__init__", "None", "é", ""])
type_names = st.sampled_from(["string", "integer", "number", "boolean", "null", "array", "object", "weird"])
fixed_refs = ["#", "#/$defs/A", "#/$defs/B", "#/definitions/A", "#/$defs/missing", "http://x/y", "#/a/0"]
pointer_parts = ["allOf", "anyOf", "$defs", "A", "0", "1", "01", "\u00b2", "9" * 5000, "~1", "%25"]
# Any pointer an upstream may send, array indexes included ("²" passes str.isdigit and fails int).
refs = st.sampled_from(fixed_refs) | st.builds(
    lambda parts: "#/" + "/".join(parts), st.lists(st.sampled_from(pointer_parts), max_size=3)
)


def _schemas(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    keyword_values: dict[str, st.SearchStrategy[Any]] = {
        "type": type_names | st.lists(type_names, max_size=3),
        "properties": st.dictionaries(names, children, max_size=4),
        "required": st.lists(names, max_size=3),
        "items": children | st.lists(children, max_size=2),
        "prefixItems": st.lists(children, max_size=3),
        "additionalProperties": children,
        "additionalItems": children,
        "anyOf": st.lists(children, max_size=3),
        "oneOf": st.lists(children, max_size=3),
        "allOf": st.lists(children, max_size=3),
        "not": children,
        "enum": st.lists(json_values, max_size=4),
        "const": json_values,
        "$ref": refs,
        "$defs": st.fixed_dictionaries({}, optional={"A": children, "B": children}),
        "definitions": st.fixed_dictionaries({}, optional={"A": children}),
        "default": json_values,
        "description": st.text(max_size=30),
        "title": st.text(max_size=10),
        "format": st.text(max_size=8),
        "pattern": st.text(max_size=8),
        "minimum": st.integers() | st.floats(allow_nan=False),
        "exclusiveMaximum": st.booleans() | st.integers(),
        "patternProperties": st.dictionaries(st.text(max_size=4), children, max_size=2),
    }
    return st.fixed_dictionaries({}, optional=keyword_values)  # pyright: ignore[reportUnknownVariableType]


schemas: st.SearchStrategy[Any] = st.recursive(st.booleans() | st.just(dict[str, Any]()), _schemas, max_leaves=8)
tool_specs = st.builds(
    ToolSpec,
    server=names,
    name=names,
    description=st.none() | st.text(max_size=40),
    input_schema=_schemas(schemas),
    output_schema=st.none() | _schemas(schemas),
)


@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,  # the same examples on every run: no flaky CI
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(tool_specs, max_size=4))
def test_any_schema_renders_a_module_that_compiles_and_matches(specs: list[ToolSpec]) -> None:
    catalog = build_catalog(specs)
    with _renderer_errors() as errors:
        stubs = _render(catalog, safe=False)  # no module-level fallback hides a bug here
        source = MODULE_HEADER + "\n\n" + stubs.body
        _check_module_matches_catalog(catalog, _exec(source))
        assert render_module(catalog) == source
        assert render_module(build_catalog(list(reversed(specs)))) == source
        render_prompt(catalog, settings=StubSettings(), limits=ExecutionLimits())
    # The per-tool fallback (a tool rendered as `Any` after an exception) would also hide a crash.
    assert errors == []


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _renderer_errors() -> Generator[list[str], None, None]:
    """The error records the stub renderer logs meanwhile (each one is a swallowed exception)."""
    logger = logging.getLogger("gateway.stubs")
    handler = _Collect()
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


# hypothesis-jsonschema 0.23.1 cannot generate object instances with hypothesis 6.170 (it relies on
# removed private internals: `'many' object has no attribute 'more'`), and every schema is an object,
# so the generator above stands in for it.
