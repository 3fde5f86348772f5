"""The house rules that keep the packages apart, checked on the source (no imports executed)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return names


def _package_of(path: Path) -> str:
    """`gateway.sandbox` for gateway/sandbox/_docker.py; `gateway.app` for gateway/app.py."""
    return ".".join(path.relative_to(ROOT).with_suffix("").parts[:2])


def test_no_gateway_module_reaches_past_another_packages_front_door() -> None:
    offences: list[str] = []
    for path in sorted((ROOT / "gateway").rglob("*.py")):
        own = _package_of(path)
        for module in _imports(path):
            parts = module.split(".")
            if parts[0] != "gateway" or len(parts) < 3 or not parts[2].startswith("_"):
                continue
            if ".".join(parts[:2]) != own:
                offences.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offences == []


def test_bridge_is_stdlib_only_and_never_imports_the_gateway() -> None:
    offences = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in sorted((ROOT / "bridge").rglob("*.py"))
        for module in _imports(path)
        if module.split(".")[0] in {"gateway", "pydantic", "anyio", "mcp", "docker", "boto3"}
    ]
    assert offences == []


def test_the_layering_check_sees_an_offence(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from gateway.sandbox._docker import DockerSandboxBackend\nimport bridge.protocol\n", encoding="utf-8"
    )
    assert _imports(bad) == ["gateway.sandbox._docker", "bridge.protocol"]
    assert _package_of(ROOT / "gateway" / "sandbox" / "_docker.py") == "gateway.sandbox"
