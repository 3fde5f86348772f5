"""`${VAR}` expansion rules."""

from __future__ import annotations

import pytest

from gateway.config._expand import ExpansionError, expand

ENV = {"A": "alpha", "EMPTY": ""}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("${A}", "alpha"),
        ("x-${A}-y-${A}", "x-alpha-y-alpha"),
        ("${B:-beta}", "beta"),
        ("${A:-beta}", "alpha"),
        ("${EMPTY:-fallback}", "fallback"),
        ("${EMPTY}", ""),
        ("${B:-}", ""),
        ("${B:-http://h:1/x}", "http://h:1/x"),
        ("${env:A}", "alpha"),
        ("$${A}", "${A}"),
        ("$A and $", "$A and $"),
    ],
)
def test_expand(text: str, expected: str) -> None:
    assert expand(text, ENV) == expected


def test_unset_without_default() -> None:
    with pytest.raises(ExpansionError, match=r"environment variable B is not set"):
        expand("${B}", ENV)


@pytest.mark.parametrize("text", ["${}", "${1X}", "${A B}", "${input:x}", "${workspaceFolder}"])
def test_invalid_references(text: str) -> None:
    with pytest.raises(ExpansionError):
        expand(text, ENV)


def test_vs_code_variables_are_named_as_such() -> None:
    with pytest.raises(ExpansionError, match=r"\$\{workspaceFolder\} is a VS Code variable"):
        expand("${workspaceFolder}/server.py", ENV)
    with pytest.raises(ExpansionError, match=r"\$\{input:token\} is a VS Code variable"):
        expand("${input:token}", ENV)
    assert expand("${workspaceFolder}", {"workspaceFolder": "/w"}) == "/w"  # set explicitly: used
