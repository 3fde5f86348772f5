"""JSON Schema -> Python type expressions, with the `TypedDict` classes they need.

One `TypeRenderer` renders a whole module: it owns the registry of `TypedDict` classes (named
deterministically, deduplicated by their rendered body) so that every tool shares them. Anything a
type cannot express becomes `Any`, and the schema fragment is collected for the docstring of the
parameter (or the comment of the field) it belongs to. It never raises on a strange schema.
"""

from __future__ import annotations

import keyword
from collections.abc import Generator, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field

from gateway.catalog import object_properties, resolve_ref
from gateway.stubs._text import comment_text, doc_literal, json_fragment, pascal_case, py_literal
from gateway.tools import JsonValue

__all__ = ["SchemaTooComplexError", "TypeRenderer", "TypedDictDef", "constraint_notes", "optional"]

_MAX_DEPTH = 24
_MAX_UNION_MEMBERS = 256
_MAX_STEPS = 100_000
"""Schema nodes the renders under one `root` (a tool's input or output schema) may visit. Union members each
re-render what they share with their parent, so a small schema can multiply its work at every level; past this
the renderer gives up (`SchemaTooComplexError`) and the stub module renders that tool with `Any`."""
"""Longer unions are `Any`: a few thousand `A | B | ...` terms overflow the compiler's recursion limit."""
_SCALARS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "null": "None"}
_TYPE_KEYS = (
    "type",
    "properties",
    "items",
    "prefixItems",
    "additionalProperties",
    "$ref",
    "enum",
    "const",
    "anyOf",
    "oneOf",
    "allOf",
)
_UNEXPRESSED = (
    "not",
    "if",
    "patternProperties",
    "dependentSchemas",
    "dependentRequired",
    "dependencies",
    "contains",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
)


class SchemaTooComplexError(Exception):
    """A schema takes more than `_MAX_STEPS` steps to render; the stub renderer then uses `Any` for its tool."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TypedDictDef:
    """One rendered `TypedDict` class."""

    name: str
    source: str


@dataclass(slots=True, kw_only=True)
class _Field:
    key: str
    type: str
    required: bool
    comment: str


@dataclass(slots=True)
class _RefState:
    name: str | None = None
    """The TypedDict name reserved for an object definition while it renders (recursion)."""
    used_recursively: bool = False
    in_progress: bool = True
    result: str | None = None


@dataclass(slots=True, kw_only=True)
class TypeRenderer:
    """Renders schemas to type expressions for one module."""

    taken: set[str] = field(default_factory=set[str])
    """Global names the TypedDict classes must not take (namespaces, builtins, typing names…)."""
    definitions: list[TypedDictDef] = field(default_factory=list[TypedDictDef])
    _by_body: dict[str, str] = field(default_factory=dict[str, str])
    _fragments: list[list[JsonValue]] = field(default_factory=list[list[JsonValue]])
    _root: JsonValue = None
    _refs: dict[str, _RefState] = field(default_factory=dict[str, _RefState])
    _next_suffix: dict[str, int] = field(default_factory=dict[str, int])
    """Per base name, the suffix `_reserve` tries next (lower ones are taken)."""
    _suffixed: dict[str, tuple[str, int]] = field(default_factory=dict[str, tuple[str, int]])
    """Names `_reserve` gave a suffix to: their base and suffix."""
    _steps: int = 0

    @contextmanager
    def root(self, schema: JsonValue) -> Generator[None]:
        """Render types against this root schema (where `$ref`s resolve), within a budget of `_MAX_STEPS`."""
        saved_root, saved_refs, saved_steps = self._root, self._refs, self._steps
        self._root, self._refs, self._steps = schema, {}, 0
        try:
            yield
        finally:
            self._root, self._refs, self._steps = saved_root, saved_refs, saved_steps

    @contextmanager
    def collecting(self) -> Generator[list[JsonValue]]:
        """Collect the fragments that could not be expressed while rendering one parameter/field."""
        fragments: list[JsonValue] = []
        self._fragments.append(fragments)
        try:
            yield fragments
        finally:
            self._fragments.pop()

    def render(self, schema: JsonValue, *, hint: str) -> str:
        """The type expression of `schema`; `hint` names any TypedDict it needs.

        Raises:
            SchemaTooComplexError: the renders under this `root` took more than `_MAX_STEPS` steps.
        """
        return self._type(schema, hint=hint, depth=0)

    # -- internals -----------------------------------------------------------------------------

    def _unexpressed(self, schema: JsonValue) -> str:
        if self._fragments:
            self._fragments[-1].append(schema)
        return "Any"

    def _type(self, schema: JsonValue, *, hint: str, depth: int) -> str:
        self._steps += 1
        if self._steps > _MAX_STEPS:
            raise SchemaTooComplexError(f"the schema takes more than {_MAX_STEPS} steps to render")
        if depth > _MAX_DEPTH:
            return self._unexpressed(schema)
        if not isinstance(schema, dict):
            return "Any"  # `true`, `false` or garbage: nothing to say
        ref = schema.get("$ref")
        if isinstance(ref, str):
            return self._ref(ref, schema, hint=hint, depth=depth)
        if "const" in schema:
            return self._literals([schema["const"]], schema)
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            return self._literals(enum, schema)
        for key in ("anyOf", "oneOf"):
            members = schema.get(key)
            if isinstance(members, list) and members:
                if len(members) > _MAX_UNION_MEMBERS:
                    return self._unexpressed(schema)
                base = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf", "description", "title")}
                if _has_type_info(base) and not any(isinstance(m, dict) and _has_type_info(m) for m in members):
                    return self._type(base, hint=hint, depth=depth + 1)  # members only add constraints
                options = [self._merge_member(base, m) for m in members]
                several = sum(1 for m in options if not _is_null(m)) > 1
                return _union(
                    self._type(m, hint=_member_hint(m, hint, i) if several else hint, depth=depth + 1)
                    for i, m in enumerate(options, 1)
                )
        all_of = schema.get("allOf")
        if isinstance(all_of, list) and all_of:
            return self._all_of(schema, all_of, hint=hint, depth=depth)
        if any(key in schema for key in _UNEXPRESSED) and not _has_type_info(schema):
            return self._unexpressed(schema)
        types = schema.get("type")
        if isinstance(types, list):
            names = [t for t in types if isinstance(t, str)]
            if not names:
                return self._unexpressed(schema)
            return _union(self._typed(schema, t, hint=hint, depth=depth) for t in names)
        if isinstance(types, str):
            return self._typed(schema, types, hint=hint, depth=depth)
        if types is not None:
            return self._unexpressed(schema)
        if any(k in schema for k in ("properties", "additionalProperties", "required")):
            return self._typed(schema, "object", hint=hint, depth=depth)
        if any(k in schema for k in ("items", "prefixItems")):
            return self._typed(schema, "array", hint=hint, depth=depth)
        return "Any"

    def _merge_member(self, base: dict[str, JsonValue], member: JsonValue) -> JsonValue:
        if not base or not isinstance(member, dict):
            return member
        if "type" in member or "$ref" in member:
            return member
        return {**base, **member}

    def _typed(self, schema: dict[str, JsonValue], type_name: str, *, hint: str, depth: int) -> str:
        if type_name in _SCALARS:
            return _SCALARS[type_name]
        if type_name == "array":
            return self._array(schema, hint=hint, depth=depth)
        if type_name == "object":
            return self._object(schema, hint=hint, depth=depth)
        return self._unexpressed({"type": type_name})

    def _literals(self, values: list[JsonValue], schema: dict[str, JsonValue]) -> str:
        literals: dict[str, None] = {}  # ordered and deduplicated in linear time (an enum may have 100,000 values)
        others: list[str] = []
        for value in values:
            if value is None:
                others.append("None")
            elif isinstance(value, float):
                others.append("float")
            else:
                literal = py_literal(value)
                if literal is None:
                    return self._unexpressed(schema)
                literals[literal] = None
        parts = ([f"Literal[{', '.join(literals)}]"] if literals else []) + others
        return _union(parts)

    def _array(self, schema: dict[str, JsonValue], *, hint: str, depth: int) -> str:
        prefix = schema.get("prefixItems")
        items = schema.get("items")
        if not isinstance(prefix, list) and isinstance(items, list):  # draft-07 tuple form
            prefix, items = items, schema.get("additionalItems")
        if isinstance(prefix, list) and prefix:
            members = [self._type(p, hint=f"{hint}Item{i}", depth=depth + 1) for i, p in enumerate(prefix, 1)]
            if items is None or items is False:
                return f"tuple[{', '.join(members)}]"
            extra = self._type(items, hint=f"{hint}Item", depth=depth + 1)
            return f"list[{_union([*members, extra])}]"
        if isinstance(items, dict) and items:
            return f"list[{self._type(items, hint=f'{hint}Item', depth=depth + 1)}]"
        return "list[Any]"

    def _object(self, schema: dict[str, JsonValue], *, hint: str, depth: int) -> str:
        properties, required = object_properties(schema, self._root)
        additional = schema.get("additionalProperties")
        if not properties:
            values: list[JsonValue] = []
            patterns = schema.get("patternProperties")
            if isinstance(patterns, dict):
                values += list(patterns.values())
            if isinstance(additional, dict) and additional:
                values.append(additional)
            if not values or any(not isinstance(v, dict) or not v for v in values):
                return "dict[str, Any]"
            value_type = _union(self._type(v, hint=f"{hint}Value", depth=depth + 1) for v in values)
            return f"dict[str, {value_type}]"
        return self._typed_dict(schema, properties, required, hint=hint, depth=depth)

    def _typed_dict(
        self,
        schema: dict[str, JsonValue],
        properties: dict[str, JsonValue],
        required: list[str],
        *,
        hint: str,
        depth: int,
        reserved: _RefState | None = None,
    ) -> str:
        fields: list[_Field] = []
        for key, sub in properties.items():
            with self.collecting() as fragments:
                type_text = self._type(sub, hint=hint + pascal_case(key), depth=depth + 1)
            comment = _field_comment(sub, fragments)
            fields.append(_Field(key=key, type=type_text, required=key in required, comment=comment))
        doc = schema.get("description")
        if not isinstance(doc, str):
            doc = None
        key = _typed_dict_source(_PLACEHOLDER, doc, fields)
        existing = self._by_body.get(key)
        if existing is not None and (reserved is None or not reserved.used_recursively):
            if reserved is not None and reserved.name is not None:
                self._release(reserved.name)
            return existing
        if reserved is not None and reserved.name is not None:
            name = reserved.name
        else:
            title = schema.get("title")
            name = self._reserve(title if isinstance(title, str) and title.strip() else hint)
        self._by_body.setdefault(key, name)
        self.definitions.append(TypedDictDef(name=name, source=_typed_dict_source(name, doc, fields)))
        return name

    def _all_of(self, schema: dict[str, JsonValue], members: list[JsonValue], *, hint: str, depth: int) -> str:
        if not _all_of_mergeable(members):
            return self._unexpressed(schema)
        merged: dict[str, JsonValue] = {k: v for k, v in schema.items() if k != "allOf"}
        for member in members:
            if not isinstance(member, dict):
                continue
            ref = member.get("$ref")
            if isinstance(ref, str):
                target = resolve_ref(self._root, ref)
                if not isinstance(target, dict):
                    return self._unexpressed(schema)
                member = target
            for k, v in member.items():
                if k in ("properties", "required"):
                    continue
                merged.setdefault(k, v)
        properties, required = object_properties(schema, self._root)
        if properties:
            merged["properties"] = dict(properties)
            merged["required"] = list[JsonValue](required)
            merged.setdefault("type", "object")
        return self._type(merged, hint=hint, depth=depth + 1)

    def _reserve(self, hint: str) -> str:
        base = pascal_case(hint)
        name = base
        if name in self.taken or keyword.iskeyword(name):
            # Resume where the last search for this base stopped: thousands of TypedDicts with one
            # title (distinct bodies) stay linear, not quadratic.
            n = self._next_suffix.get(base, 2)
            while (name := f"{base}{n}") in self.taken:
                n += 1
            self._next_suffix[base] = n + 1
            self._suffixed[name] = (base, n)
        self.taken.add(name)
        return name

    def _release(self, name: str) -> None:
        """Give back a name `_reserve` gave (its suffix becomes the next one tried again)."""
        self.taken.discard(name)
        if name in self._suffixed:
            base, n = self._suffixed.pop(name)
            self._next_suffix[base] = min(self._next_suffix.get(base, n), n)

    def _ref(self, ref: str, schema: dict[str, JsonValue], *, hint: str, depth: int) -> str:
        state = self._refs.get(ref)
        if state is not None:
            if not state.in_progress and state.result is not None:
                return state.result
            if state.name is not None:
                state.used_recursively = True
                return state.name
            return self._unexpressed(schema)  # a recursive non-object definition
        target = resolve_ref(self._root, ref)
        if target is None:
            return self._unexpressed(schema)
        ref_hint = pascal_case(ref.rsplit("/", 1)[-1]) if ref != "#" else hint
        state = _RefState()
        self._refs[ref] = state
        result: str
        if isinstance(target, dict) and _is_plain_object(target):
            properties, required = object_properties(target, self._root)
            if properties:
                # Reserve the name first: the definition may refer to itself.
                state.name = self._reserve(ref_hint)
                result = self._typed_dict(
                    target, properties, required, hint=state.name, depth=depth + 1, reserved=state
                )
            else:
                result = self._type(target, hint=ref_hint, depth=depth + 1)
        else:
            result = self._type(target, hint=ref_hint, depth=depth + 1)
        state.in_progress, state.result = False, result
        return result


def _member_hint(member: JsonValue, hint: str, index: int) -> str:
    """A union member's name: after its discriminator (`kind: Literal["a"]` -> `...A`), else `...Option<i>`."""
    if isinstance(member, dict):
        properties = member.get("properties")
        if isinstance(properties, dict):
            for sub in properties.values():
                if not isinstance(sub, dict):
                    continue
                value = sub.get("const")
                enum = sub.get("enum")
                if value is None and isinstance(enum, list) and len(enum) == 1:
                    value = enum[0]
                if isinstance(value, str) and value:
                    return hint + pascal_case(value)
    return f"{hint}Option{index}"


def _is_null(schema: JsonValue) -> bool:
    return isinstance(schema, dict) and (schema.get("type") == "null" or schema.get("const", 0) is None)


def _is_plain_object(schema: dict[str, JsonValue]) -> bool:
    if any(k in schema for k in ("anyOf", "oneOf", "enum", "const", "$ref")):
        return False
    types = schema.get("type")
    return types == "object" or (types is None and "properties" in schema)


def _has_type_info(schema: dict[str, JsonValue]) -> bool:
    return any(k in schema for k in _TYPE_KEYS)


def optional(type_text: str) -> str:
    """`T | None` (unchanged when `T` is `Any` or already admits `None`)."""
    return _union([type_text, "None"])


def _union(parts: Iterable[str]) -> str:
    seen: dict[str, None] = {}  # ordered and deduplicated in linear time (nested unions flatten into many pieces)
    for part in parts:
        for piece in _split_union(part):
            seen[piece] = None
    if "Any" in seen or not seen or len(seen) > _MAX_UNION_MEMBERS:
        return "Any"
    if "None" in seen:
        del seen["None"]
        seen["None"] = None
    return " | ".join(seen)


def _split_union(text: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    start = 0
    quote: str | None = None
    i = 0
    while i < len(text):
        ch = text[i]
        if quote is not None:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
        i += 1
    parts.append(text[start:].strip())
    return parts


def _all_of_mergeable(members: list[JsonValue]) -> bool:
    return all(isinstance(m, dict) and not any(k in m for k in ("anyOf", "oneOf", "enum", "const")) for m in members)


def _field_comment(schema: JsonValue, fragments: list[JsonValue]) -> str:
    parts: list[str] = []
    if isinstance(schema, dict):
        description = schema.get("description")
        if isinstance(description, str) and description.strip():
            parts.append(description.strip())
        parts.extend(constraint_notes(schema))
    if fragments:
        parts.append("Schema: " + "; ".join(dict.fromkeys(json_fragment(f) for f in fragments)))
    return comment_text(" ".join(parts))


_PLACEHOLDER = "\x00"


def _typed_dict_source(name: str, doc: str | None, fields: list[_Field]) -> str:
    lines: list[str] = []
    functional = any(
        not f.key.isidentifier() or keyword.iskeyword(f.key) or f.key.startswith("__") or not f.key.isascii()
        for f in fields
    )
    doc = doc.strip() if doc else None
    if functional:
        if doc:
            lines.append(f"# {comment_text(doc)}")
        lines += [f"{name} = TypedDict(", f'    "{name}",', "    {"]
        for f in fields:
            type_text = f.type if f.required else f"NotRequired[{f.type}]"
            entry = f"        {py_literal(f.key)}: {py_literal(type_text)},"
            lines.append(f"{entry}  # {f.comment}" if f.comment else entry)
        lines += ["    },", ")"]
        return "\n".join(lines)
    lines.append(f"class {name}(TypedDict):")
    if doc:
        lines.append(f'    """{doc_literal(doc)}"""')
    for f in fields:
        type_text = f.type if f.required else f"NotRequired[{f.type}]"
        entry = f"    {f.key}: {type_text}"
        lines.append(f"{entry}  # {f.comment}" if f.comment else entry)
    return "\n".join(lines)


def constraint_notes(schema: dict[str, JsonValue]) -> list[str]:
    """Human notes for the constraints a type does not show (format, ranges, patterns…)."""
    notes: list[str] = []
    fmt = schema.get("format")
    if isinstance(fmt, str):
        notes.append(f"Format: {fmt}.")
    lower, upper = _bound(schema, "minimum", "exclusiveMinimum"), _bound(schema, "maximum", "exclusiveMaximum")
    if lower is not None or upper is not None:
        left = f"{lower[1]} {lower[0]} " if lower is not None else ""
        right = f" {upper[0]} {upper[1]}" if upper is not None else ""
        notes.append(f"Range: {left}x{right}.")
    for key, label in (
        ("minLength", "min length"),
        ("maxLength", "max length"),
        ("minItems", "min items"),
        ("maxItems", "max items"),
        ("minProperties", "min properties"),
        ("maxProperties", "max properties"),
        ("multipleOf", "multiple of"),
    ):
        value = schema.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            notes.append(f"{label.capitalize()}: {value}.")
    if schema.get("uniqueItems") is True:
        notes.append("Unique items.")
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        notes.append(f"Pattern: `{pattern}`.")
    if schema.get("deprecated") is True:
        notes.append("Deprecated.")
    return notes


def _bound(schema: dict[str, JsonValue], inclusive: str, exclusive: str) -> tuple[str, str] | None:
    """(operator, value) for one side of a range; handles the draft-04 boolean exclusive form."""
    value = schema.get(inclusive)
    flag = schema.get(exclusive)
    strict = isinstance(flag, int | float) and not isinstance(flag, bool)
    if strict:
        return ("<", repr(flag))
    if isinstance(value, int | float) and not isinstance(value, bool):
        return ("<" if flag is True else "<=", repr(value))
    return None
