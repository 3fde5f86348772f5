"""What a server says about itself becomes its namespace docstring."""

from __future__ import annotations

import pytest

from gateway.upstream import describe_server


@pytest.mark.parametrize(
    ("title", "instructions", "expected"),
    [
        (None, None, None),
        ("", "  \n", None),
        ("Demo HR", None, "Demo HR"),
        (None, "Use get_x first.\n", "Use get_x first."),
        (
            "  Demo HR ",
            "\nOffices and managers.\n\nIds match the expenses server.",
            "Demo HR\n\nOffices and managers.\n\nIds match the expenses server.",
        ),
    ],
)
def test_describe_server(title: str | None, instructions: str | None, expected: str | None) -> None:
    assert describe_server(title=title, instructions=instructions) == expected
