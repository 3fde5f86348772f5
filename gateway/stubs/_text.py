"""Small text helpers: Python literals, docstring escaping, names, sentences."""

from __future__ import annotations

import json
import math
import re

from gateway.tools import JsonValue

__all__ = [
    "collapse",
    "comment_text",
    "doc_literal",
    "first_sentence",
    "indent",
    "json_fragment",
    "pascal_case",
    "py_literal",
]

_MAX_LITERAL_CHARS = 200
_MAX_FRAGMENT_CHARS = 1000
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")


def py_literal(value: JsonValue, *, containers: bool = False) -> str | None:
    """The Python source of a JSON value, or `None` when it has no short literal form.

    Scalars always; lists and objects of literals only with `containers` (for defaults).
    """
    match value:
        case None:
            return "None"
        case bool():
            return "True" if value else "False"
        case int():
            return repr(value)
        case float():
            return repr(value) if math.isfinite(value) else None
        case str():
            return _str_literal(value)
        case list():
            if not containers:
                return None
            items = [py_literal(v, containers=True) for v in value]
            if any(i is None for i in items):
                return None
            text = "[" + ", ".join(i for i in items if i is not None) + "]"
        case dict():
            if not containers:
                return None
            parts: list[str] = []
            for k, v in value.items():
                literal = py_literal(v, containers=True)
                if literal is None:
                    return None
                parts.append(f"{_str_literal(k)}: {literal}")
            text = "{" + ", ".join(parts) + "}"
    return text if len(text) <= _MAX_LITERAL_CHARS else None


def _str_literal(value: str) -> str:
    text = repr(value)
    if text.startswith("'") and '"' not in value:
        text = '"' + text[1:-1] + '"'
    return text


def doc_literal(text: str) -> str:
    """Escape text for the inside of a triple-quoted docstring (never ends the string)."""
    out: list[str] = []
    for ch in text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"'):
        if ch in "\n\t" or ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}")
    escaped = "".join(out)
    if escaped.endswith('"'):
        escaped = escaped[:-1] + '\\"'
    return escaped


def collapse(text: str) -> str:
    """All whitespace runs (including line breaks) to one space."""
    return " ".join(text.split())


def comment_text(text: str) -> str:
    """Text safe for one `#` comment line."""
    return "".join(ch if ch.isprintable() else "?" for ch in collapse(text))


def first_sentence(text: str | None, *, limit: int = 120) -> str:
    """The first sentence (or line) of a description, capped at `limit` characters."""
    if not text:
        return ""
    first = text.strip().split("\n", 1)[0].strip()
    first = _SENTENCE_END.split(first, maxsplit=1)[0]
    first = comment_text(first)
    if len(first) > limit:
        first = first[: limit - 1].rstrip() + "…"
    return first


def pascal_case(*parts: str) -> str:
    """`("create_entities", "entities")` -> `CreateEntitiesEntities`; always a valid identifier."""
    words = [w for part in parts for w in re.split(r"[^A-Za-z0-9]+", part) if w]
    text = "".join(w[0].upper() + w[1:] for w in words) or "Object"
    if text[0].isdigit():
        text = "T" + text
    return text


def json_fragment(value: JsonValue) -> str:
    """Compact, deterministic JSON of a schema fragment, capped for docstrings."""
    try:
        text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > _MAX_FRAGMENT_CHARS:
        text = text[: _MAX_FRAGMENT_CHARS - 1] + "…"
    return text


def indent(text: str, prefix: str) -> str:
    """Indent every non-empty line."""
    return "\n".join(prefix + line if line else line for line in text.split("\n"))
