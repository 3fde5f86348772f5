"""The discovery helpers for compact-index prompts: `search_tools(query)` and `help(obj)` over the stub module.

`StubIndex` parses the stub source once; `search_tools` ranks tools by the query's words, `help`
prints a tool's full stub (with the TypedDicts its signature uses) or a namespace's list.

Stdlib only; must run on CPython >= 3.10.
"""

from __future__ import annotations

import ast
import builtins
import re
import textwrap
from collections.abc import Callable
from typing import Any

from bridge._calls import TOOL_MARK, Namespace

__all__ = ["SEARCH_RESULTS_MAX", "StubIndex", "make_help", "make_search_tools"]

SEARCH_RESULTS_MAX = 20


class _StubList(list[str]):
    """The result of `search_tools`: a list, and also awaitable (the prompt says `await search_tools(...)`)."""

    def __await__(self) -> Any:
        if False:  # pragma: no cover - makes this a generator function
            yield None
        return self


class StubIndex:
    """Full stub texts by tool, cut out of the stubs module's source."""

    def __init__(self, source: str, namespaces: list[str]) -> None:
        self.entries: list[tuple[str, str, str]] = []
        """(namespace, tool, text), in module order."""
        try:
            tree = ast.parse(source)
        except SyntaxError:
            return
        wanted = set(namespaces)
        # The module's other classes are the TypedDicts the stubs refer to: a tool's text carries
        # those it uses (transitively), so one stub read alone is complete.
        types: dict[str, tuple[set[str], str]] = {}
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and node.name not in wanted:
                fields = [item.annotation for item in node.body if isinstance(item, ast.AnnAssign)]
                types[node.name] = (_names_in(*fields), ast.get_source_segment(source, node) or "")
            elif (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Call)
            ):
                # `Name = TypedDict("Name", {"key": type, ...})`: keys that are not identifiers.
                values = [v for arg in node.value.args if isinstance(arg, ast.Dict) for v in arg.values]
                types[node.targets[0].id] = (_names_in(*values), ast.get_source_segment(source, node) or "")
        order = {name: position for position, name in enumerate(types)}
        for node in tree.body:
            if not isinstance(node, ast.ClassDef) or node.name not in wanted:
                continue
            for item in node.body:
                if isinstance(item, (ast.AsyncFunctionDef, ast.FunctionDef)):
                    segment = ast.get_source_segment(source, item, padded=True) or ""
                    used = sorted(_types_used(item, types), key=order.__getitem__)
                    parts = [types[name][1] for name in used] + [textwrap.dedent(segment)]
                    text = f"# {node.name}.{item.name}\n" + "\n\n".join(parts)
                    self.entries.append((node.name, item.name, text))

    def text(self, namespace: str, tool: str) -> str | None:
        """One tool's full stub."""
        return next((text for ns, name, text in self.entries if ns == namespace and name == tool), None)

    def search(self, query: str) -> list[str]:
        """The stubs matching the words of `query`, best first (tool names weigh more than docs)."""
        words = re.findall(r"[a-z0-9]+", query.lower())
        scored: list[tuple[int, int]] = []
        for index, (namespace, tool, text) in enumerate(self.entries):
            title = f"{namespace} {tool}".lower().replace("_", " ")
            body = text.lower()
            score = sum(3 if word in title else 1 if word in body else 0 for word in words) if words else 1
            if score:
                scored.append((-score, index))
        scored.sort()
        return [self.entries[index][2] for _, index in scored[:SEARCH_RESULTS_MAX]]


def _names_in(*nodes: ast.AST | None) -> set[str]:
    """Identifiers annotations mention, also inside string (forward-reference) annotations."""
    names: set[str] = set()
    for node in nodes:
        for each in ast.walk(node) if node is not None else ():
            if isinstance(each, ast.Name):
                names.add(each.id)
            elif isinstance(each, ast.Constant) and isinstance(each.value, str):
                try:
                    names |= _names_in(ast.parse(each.value, mode="eval"))
                except SyntaxError:
                    pass
    return names


def _types_used(function: ast.AsyncFunctionDef | ast.FunctionDef, types: dict[str, tuple[set[str], str]]) -> set[str]:
    """The module's TypedDicts `function`'s signature refers to, and those they refer to in turn."""
    arguments = [*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs]
    pending = _names_in(*(arg.annotation for arg in arguments), function.returns) & types.keys()
    found: set[str] = set()
    while pending:
        name = pending.pop()
        found.add(name)
        pending |= (types[name][0] & types.keys()) - found
    return found


def make_search_tools(index: StubIndex) -> Callable[[str], list[str]]:
    """The `search_tools(query)` helper installed for compact-index prompts."""

    def search_tools(query: str) -> list[str]:
        """Full stubs of the tools matching the words of `query`, best first (at most 20).

        Works with and without `await`.
        """
        return _StubList(index.search(str(query)))

    return search_tools


def make_help(index: StubIndex) -> Callable[..., None]:
    """A `help()` that prints a tool's full stub (or a namespace's), else defers to the builtin."""
    missing = object()

    def help(obj: Any = missing) -> None:  # noqa: A001 - replaces the builtin on purpose
        """Print the full stub of a tool (`help(server.tool)`) or of every tool of a namespace."""
        mark = getattr(obj, TOOL_MARK, None) if obj is not missing else None
        if isinstance(mark, tuple):
            text = index.text(*mark)  # pyright: ignore[reportUnknownArgumentType]
            if text is not None:
                print(text)
                return
        if isinstance(obj, Namespace):
            own = object.__getattribute__(obj, "_ptc_name")
            texts = [text for ns, _, text in index.entries if ns == own]
            if texts:
                print("\n".join(texts))
                return
        if obj is missing:
            builtins.help()
        else:
            builtins.help(obj)

    return help
