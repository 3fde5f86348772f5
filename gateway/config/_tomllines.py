"""Find the line of a key in TOML text, so errors found after parsing can still point at a line.

`tomllib` keeps no positions. This is a line scanner for the common shapes (`[table]` headers,
`key = ...` and dotted keys); it answers None rather than guess when a key is not found, for
example inside an inline table.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["find_line"]

_KEY_PART = r"(?:[A-Za-z0-9_-]+|\"(?:[^\"\\]|\\.)*\"|'[^']*')"
_DOTTED = rf"{_KEY_PART}(?:\s*\.\s*{_KEY_PART})*"
_HEADER = re.compile(rf"^\s*\[\s*({_DOTTED})\s*\]\s*(?:#.*)?$")
_KEY = re.compile(rf"^\s*({_DOTTED})\s*=")
_PART = re.compile(r"([A-Za-z0-9_-]+)|\"((?:[^\"\\]|\\.)*)\"|'([^']*)'")


def _split(dotted: str) -> tuple[str, ...]:
    return tuple(next(group for group in match.groups() if group is not None) for match in _PART.finditer(dotted))


def find_line(lines: Sequence[str], path: Sequence[str]) -> int | None:
    """The 1-based line that defines `path`, or its closest enclosing table or key; None if absent."""
    target = tuple(path)
    best_depth, best_line = 0, None
    table: tuple[str, ...] = ()
    for number, line in enumerate(lines, start=1):
        if header := _HEADER.match(line):
            table = _split(header.group(1))
            defined = table
        elif key := _KEY.match(line):
            defined = table + _split(key.group(1))
        else:
            continue
        if len(defined) > best_depth and target[: len(defined)] == defined:
            best_depth, best_line = len(defined), number
    return best_line
