"""The bridge runs inside arbitrary images: stdlib only, CPython >= 3.10, never `gateway`."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import bridge

BRIDGE_DIR = Path(bridge.__file__).parent
SOURCES = sorted(BRIDGE_DIR.glob("*.py"))

# Stdlib names that only exist from 3.11 on (the ones we would be tempted to use).
_NEWER_THAN_310 = {
    "TaskGroup",
    "tomllib",
    "Self",
    "ExceptionGroup",
    "StrEnum",
    "assert_never",
    "reveal_type",
    "timeout",
}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_parses_as_python_310(path: Path) -> None:
    ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=(3, 10))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_imports_only_stdlib_and_bridge(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "use absolute bridge.* imports"
            names = [node.module or ""]
        for name in names:
            top = name.split(".")[0]
            assert top == "bridge" or top in sys.stdlib_module_names, f"{path.name} imports {name}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_uses_no_311_only_names(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    used |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names}
    # protocol.py imports NotRequired only under a version check.
    assert not (used & _NEWER_THAN_310), f"{path.name} uses {used & _NEWER_THAN_310}"


def test_runner_imports_from_a_plain_directory_without_gateway(tmp_path: Path) -> None:
    shutil.copytree(BRIDGE_DIR, tmp_path / "bridge", ignore=shutil.ignore_patterns("__pycache__"))
    check = (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import bridge.runner; "
        "assert 'gateway' not in sys.modules; assert callable(bridge.runner.main); print('ok')"
    )
    done = subprocess.run([sys.executable, "-I", "-c", check], capture_output=True, text=True, env={}, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, "ok\n", "")
