"""The catalog: every tool of the fleet under its deterministic Python name.

This is the fixed calling convention inside the sandbox: each server is a namespace object (a
global named after the sanitized server key) and each tool an async function on it. The naming
rules live here and nowhere else; the stub renderer, the runner job and the executor all read
names from a `Catalog`.

Naming rules (applied to server keys, tool names and parameter names alike):

- every character outside ``[A-Za-z0-9_]`` becomes ``_`` (``list-staff`` -> ``list_staff``,
  ``files.read`` -> ``files_read``). Non-ASCII letters are replaced too: Python NFKC-normalizes
  identifiers, so two different Unicode names could otherwise become the same attribute;
- an empty name becomes ``_``; a leading digit gets a leading ``_`` (``2fa`` -> ``_2fa``);
- a leading run of two or more underscores collapses to one (``__init__`` -> ``_init__``): names
  starting with ``__`` are mangled inside a class body;
- a Python keyword gets a trailing ``_`` (``class`` -> ``class_``);
- for server keys only: a name that would shadow a builtin, a stdlib module or a name the sandbox
  defines itself (``time``, ``json``, ``print``, ``search_tools``…) gets the suffix ``_tools``
  (``time`` -> ``time_tools``);
- names that still collide get ``_2``, ``_3``… (``2``, ``3``… after a trailing ``_``). Names that
  needed no change keep them first, then the others in order of their original name, so the result
  never depends on discovery order.

Parameters are in signature order: required ones first, then optional ones, each group in the
order of the schema's ``properties`` (the order the server's author wrote, which reads best; it is
part of the schema, so it is as deterministic as the schema itself). Required names missing from
``properties`` follow the required group in the order of ``required``.
"""

from __future__ import annotations

import builtins
import keyword
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote

from bridge.protocol import TOOL_ERROR
from gateway.tools import JsonObject, JsonValue, ToolRef, ToolSpec

__all__ = [
    "RESERVED_GLOBALS",
    "Catalog",
    "CatalogNamespace",
    "CatalogParam",
    "CatalogTool",
    "build_catalog",
    "missing_namespaces",
    "object_properties",
    "python_identifier",
    "resolve_ref",
]

RESERVED_GLOBALS: frozenset[str] = frozenset(
    {
        # Defined by the sandbox runner next to the namespaces.
        "search_tools",
        TOOL_ERROR,
        # Used by the rendered stub module itself.
        "annotations",
        "Any",
        "Literal",
        "NotRequired",
        "TypedDict",
        "TYPE_CHECKING",
    }
)
"""Global names a server namespace must never take (in addition to builtins and stdlib modules)."""

_INVALID_CHARS = re.compile(r"[^A-Za-z0-9_]")
_LEADING_UNDERSCORES = re.compile(r"^__+")
_SHADOW_SUFFIX = "_tools"


def python_identifier(name: str) -> str:
    """Sanitize one name into a valid, unmangled, non-keyword Python identifier.

    Does not handle shadowing or collisions; `build_catalog` does.
    """
    text = _INVALID_CHARS.sub("_", name) or "_"
    if text[0].isdigit():
        text = "_" + text
    text = _LEADING_UNDERSCORES.sub("_", text)
    if keyword.iskeyword(text):
        text += "_"
    return text


def _shadowed_globals() -> frozenset[str]:
    return frozenset(dir(builtins)) | frozenset(sys.stdlib_module_names) | RESERVED_GLOBALS


def _namespace_identifier(server: str, shadowed: frozenset[str]) -> str:
    text = python_identifier(server)
    if text in shadowed:
        text += _SHADOW_SUFFIX
    return text


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogParam:
    """One parameter of a tool, in signature order."""

    python_name: str
    name: str
    """The original argument name, sent on the real call."""
    required: bool
    schema: JsonValue
    """The property's JSON Schema (`{}` when the schema only lists the name as required)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogTool:
    """One tool under its Python name."""

    spec: ToolSpec
    namespace: str
    """The Python name of the tool's namespace (`CatalogNamespace.python_name`)."""
    python_name: str
    params: Mapping[str, str]
    """Python parameter name -> original argument name, in signature order."""
    parameters: tuple[CatalogParam, ...] = ()
    """The same parameters with their schema and whether they are required, in signature order."""

    @property
    def id(self) -> str:
        """Stable id used on the wire: `namespace.tool` (unique within a catalog)."""
        return f"{self.namespace}.{self.python_name}"

    @property
    def ref(self) -> ToolRef:
        """The reference used for the real call (server key and original tool name)."""
        return self.spec.ref


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogNamespace:
    """One server as a namespace object."""

    server: str
    python_name: str
    tools: tuple[CatalogTool, ...]
    description: str | None = None
    """What the server says about itself (its MCP `instructions`), when known."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Catalog:
    """All namespaces, sorted deterministically."""

    namespaces: tuple[CatalogNamespace, ...] = ()
    _by_id: Mapping[str, CatalogTool] = field(default_factory=dict[str, CatalogTool], repr=False)

    def tool(self, tool_id: str) -> CatalogTool | None:
        """Look a tool up by its wire id."""
        return self._by_id.get(tool_id)

    def tool_for(self, ref: ToolRef) -> CatalogTool | None:
        """Look a tool up by its server key and original name."""
        for namespace in self.namespaces:
            if namespace.server == ref.server:
                return next((t for t in namespace.tools if t.spec.name == ref.name), None)
        return None

    @property
    def tools(self) -> tuple[CatalogTool, ...]:
        """Every tool, namespace by namespace, in catalog order."""
        return tuple(tool for namespace in self.namespaces for tool in namespace.tools)


def build_catalog(specs: Iterable[ToolSpec], *, descriptions: Mapping[str, str] | None = None) -> Catalog:
    """Name every tool deterministically, whatever order the servers answered in.

    `descriptions` optionally maps server keys to a description for the namespace's docstring.
    """
    by_server: dict[str, dict[str, ToolSpec]] = {}
    for spec in specs:
        server_specs = by_server.setdefault(spec.server, {})
        previous = server_specs.get(spec.name)
        # A server listing one name twice: keep one of them, independently of their order.
        if previous is None or _spec_key(spec) < _spec_key(previous):
            server_specs[spec.name] = spec

    shadowed = _shadowed_globals()
    server_names = _assign_unique(sorted(by_server), lambda s: _namespace_identifier(s, shadowed), taken=())
    namespaces: list[CatalogNamespace] = []
    by_id: dict[str, CatalogTool] = {}
    for server, ns_name in server_names.items():
        tool_specs = by_server[server]
        tool_names = _assign_unique(sorted(tool_specs), python_identifier, taken=())
        tools: list[CatalogTool] = []
        for original, tool_name in sorted(tool_names.items(), key=lambda item: item[1]):
            spec = tool_specs[original]
            parameters = _parameters(spec.input_schema)
            tool = CatalogTool(
                spec=spec,
                namespace=ns_name,
                python_name=tool_name,
                params={p.python_name: p.name for p in parameters},
                parameters=parameters,
            )
            tools.append(tool)
            by_id[tool.id] = tool
        namespaces.append(
            CatalogNamespace(
                server=server,
                python_name=ns_name,
                tools=tuple(tools),
                description=(descriptions or {}).get(server),
            )
        )
    namespaces.sort(key=lambda ns: ns.python_name)
    return Catalog(namespaces=tuple(namespaces), _by_id=by_id)


def missing_namespaces(catalog: Catalog, servers: Iterable[str]) -> dict[str, str]:
    """Python names for configured servers without tools in `catalog` (starting or failed).

    Their namespaces stay in the code (calls raise `ToolError`, not `NameError`); the names never
    clash with the catalog's, which keep theirs whatever the other servers' state.
    """
    present = {ns.server for ns in catalog.namespaces}
    missing = sorted(set(servers) - present)
    shadowed = _shadowed_globals()
    taken = [ns.python_name for ns in catalog.namespaces]
    return _assign_unique(missing, lambda s: _namespace_identifier(s, shadowed), taken=taken)


def _spec_key(spec: ToolSpec) -> str:
    return repr(spec)


def _assign_unique(originals: Sequence[str], sanitize: Callable[[str], str], *, taken: Iterable[str]) -> dict[str, str]:
    """Map each original name to a unique identifier; unchanged names have priority."""
    used = set(taken)
    wanted = {original: sanitize(original) for original in originals}
    order = sorted(originals, key=lambda o: (wanted[o] != o, o))
    assigned: dict[str, str] = {}
    # First pass: everyone whose sanitized name is free takes it, in priority order.
    for original in order:
        if wanted[original] not in used:
            assigned[original] = wanted[original]
            used.add(wanted[original])
    # Second pass: the losers get the first free `_2`, `_3`… suffix. The search for a stem resumes
    # where its last one stopped: thousands of names sharing a stem stay linear, not quadratic.
    next_n: dict[str, int] = {}
    for original in order:
        if original in assigned:
            continue
        base = wanted[original]
        # `class_` -> `class_2`, `_` -> `_2`: never a new leading `__` (mangled in a class body).
        stem = base if base.endswith("_") else base + "_"
        n = next_n.get(stem, 2)
        while f"{stem}{n}" in used:
            n += 1
        next_n[stem] = n + 1
        assigned[original] = f"{stem}{n}"
        used.add(assigned[original])
    return {original: assigned[original] for original in originals}


def _parameters(input_schema: JsonObject) -> tuple[CatalogParam, ...]:
    properties, required = object_properties(input_schema)
    names = list(properties)
    names += [name for name in required if name not in properties]
    python_names = _assign_unique(names, python_identifier, taken=())
    params = [
        CatalogParam(
            python_name=python_names[name],
            name=name,
            required=name in required,
            schema=properties.get(name, {}),
        )
        for name in names
    ]
    # Stable sort: required first, each group in schema order.
    params.sort(key=lambda p: not p.required)
    return tuple(params)


def object_properties(schema: JsonValue, root: JsonValue = None) -> tuple[dict[str, JsonValue], list[str]]:
    """The properties (in schema order) and required names of an object schema.

    Follows a top-level local `$ref` and merges `allOf` members; anything else contributes
    nothing. Never raises on a malformed schema.
    """
    properties: dict[str, JsonValue] = {}
    required: list[str] = []
    _collect_properties(schema, root if root is not None else schema, properties, required, {}, depth=0)
    return properties, required


_MAX_MERGE_DEPTH = 8


def _collect_properties(
    schema: JsonValue,
    root: JsonValue,
    properties: dict[str, JsonValue],
    required: list[str],
    seen: dict[int, int],
    *,
    depth: int,
) -> None:
    # `seen`: the shallowest depth each schema node was merged at. Merging it again adds nothing unless
    # it is reached shallower (where the depth limit cuts less of what is under it); without this,
    # members that `$ref` back to the root or to each other multiply the walk at every level.
    if not isinstance(schema, dict) or depth > _MAX_MERGE_DEPTH or seen.get(id(schema), depth + 1) <= depth:
        return
    seen[id(schema)] = depth
    ref = schema.get("$ref")
    if isinstance(ref, str):
        _collect_properties(resolve_ref(root, ref), root, properties, required, seen, depth=depth + 1)
    props = schema.get("properties")
    if isinstance(props, dict):
        for name, sub in props.items():
            properties.setdefault(name, sub)
    req = schema.get("required")
    if isinstance(req, list):
        for name in req:
            if isinstance(name, str) and name not in required:
                required.append(name)
    all_of = schema.get("allOf")
    if isinstance(all_of, list):
        for member in all_of:
            _collect_properties(member, root, properties, required, seen, depth=depth + 1)


_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]{0,9}")
"""An array index in a JSON pointer (RFC 6901: no leading zeros). ASCII only and short: `str.isdigit`
accepts "²", which `int` refuses, and `int` refuses more than 4,300 digits; both come from upstream schemas."""


def resolve_ref(root: JsonValue, ref: str) -> JsonValue:
    """Resolve a local JSON pointer (`#/$defs/X`, `#/definitions/X`, `#`); `None` when it can't."""
    if ref == "#":
        return root
    if not ref.startswith("#/"):
        return None
    node: JsonValue = root
    for raw in ref[2:].split("/"):
        part = unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict):
            if part not in node:
                return None
            node = node[part]
        elif isinstance(node, list) and _ARRAY_INDEX.fullmatch(part) and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node
