"""In-process checks of the runner's pieces (the whole runner is exercised in tests/executor)."""

from __future__ import annotations

import ast

from bridge._stub_index import StubIndex
from bridge._traceback import CODE_FILENAME, error_info, register_source

STUBS = '''
class calc:
    """Calculator."""

    @staticmethod
    async def add(a: int, b: int) -> int:
        """Add two numbers."""
        ...

    @staticmethod
    async def divide(a: float, b: float) -> float:
        """Divide a by b."""
        ...


class notes:
    @staticmethod
    async def add_note(text: str) -> None:
        """Store a note."""
        ...
'''


def test_stub_index_cuts_full_stubs_and_ranks_names_first() -> None:
    index = StubIndex(STUBS, ["calc", "notes"])
    assert (
        index.text("calc", "add")
        == '# calc.add\nasync def add(a: int, b: int) -> int:\n    """Add two numbers."""\n    ...'
    )
    assert [s.splitlines()[0] for s in index.search("add")] == ["# calc.add", "# notes.add_note"]
    assert [s.splitlines()[0] for s in index.search("store note")] == ["# notes.add_note"]
    assert index.search("nothing matches this") == []
    assert len(index.search("")) == 3


def test_error_info_keeps_only_code_frames() -> None:
    source = "def f():\n    return 1 / 0\n\nf()\n"
    register_source(CODE_FILENAME, source)
    code = compile(source, CODE_FILENAME, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    try:
        exec(code, {})
    except ZeroDivisionError as e:
        info = error_info(e)
    else:  # pragma: no cover
        raise AssertionError
    assert info["type"] == "ZeroDivisionError"
    assert info.get("lineno") == 2
    assert info.get("traceback") == (
        "Traceback (most recent call last):\n"
        '  File "<code>", line 4, in <module>\n'
        "    f()\n"
        '  File "<code>", line 2, in f\n'
        "    return 1 / 0\n"
        "           ~~^~~\n"
        "ZeroDivisionError: division by zero\n"
    )


def test_error_info_chained_exceptions_and_huge_messages() -> None:
    source = "try:\n    {}['k']\nexcept KeyError as e:\n    raise ValueError('v' * 100000) from e\n"
    register_source(CODE_FILENAME, source)
    try:
        exec(compile(source, CODE_FILENAME, "exec"), {})
    except ValueError as e:
        info = error_info(e)
    else:  # pragma: no cover
        raise AssertionError
    assert len(info["message"]) < 20_000
    traceback = info.get("traceback") or ""
    assert "KeyError: 'k'" in traceback and "direct cause" in traceback
    assert "test_runner_parts" not in traceback
