"""`ptc-gateway tools` against the five real servers (installed by scripts/install-test-servers)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gateway.catalog import build_catalog
from gateway.cli import main
from gateway.cli._cmd_tools import render_catalog
from gateway.config import GatewaySettings, StdioServerConfig
from gateway.stubs import build_toolbox, render_module
from tests.servers import (
    REPO,
    everything_server,
    filesystem_server,
    git_server,
    memory_server,
    require_installed,
    time_server,
)
from tests.stubs._corpus import real_catalog, real_specs
from tests.stubs._golden import GOLDEN

FIVE_SERVERS = REPO / "configs" / "examples" / "five-servers.json"


def _entry(config: StdioServerConfig) -> dict[str, Any]:
    entry: dict[str, Any] = {"command": config.command, "args": list(config.args)}
    if config.env:
        entry["env"] = dict(config.env)
    return entry


def _servers_file(tmp_path: Path, **extra: dict[str, Any]) -> Path:
    require_installed()
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    files = tmp_path / "files"
    files.mkdir()
    servers = {
        "time": _entry(time_server()),
        "git": _entry(git_server(repo)),
        "everything": _entry(everything_server()) | {"args": ["stdio"]},
        "memory": _entry(memory_server(tmp_path / "memory.jsonl")),
        "filesystem": _entry(filesystem_server(files)),
        **extra,
    }
    path = tmp_path / "servers.json"
    path.write_text(json.dumps({"mcpServers": servers}), encoding="utf-8")
    (tmp_path / "gateway.toml").write_text("", encoding="utf-8")  # not the repo's configs/gateway.toml
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["tools", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.servers
def test_python_format_imports_has_every_tool_and_is_identical_on_a_second_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    servers = str(_servers_file(tmp_path))
    code, first, _ = _run(capsys, "--servers", servers, "--config", str(tmp_path / "gateway.toml"))
    assert code == 0
    scope: dict[str, Any] = {}
    exec(compile(first, "stubs.py", "exec"), scope)
    for name in ("everything", "filesystem", "git", "memory", "time_tools"):
        assert isinstance(scope[name], type)
    code, second, _ = _run(capsys, "--servers", servers, "--config", str(tmp_path / "gateway.toml"))
    assert code == 0
    assert second == first
    # The committed corpus (tests/fixtures/schemas/real) is what these servers really list.
    golden = (GOLDEN / "real_module.py.txt").read_text(encoding="utf-8")
    assert first == golden, "the real servers changed: re-run tests/fixtures/dump_real_schemas.py"


@pytest.mark.servers
def test_shipped_five_server_example_prints_every_tool_identically_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's Done criterion, on the file users point at: configs/examples/five-servers.json."""
    require_installed()
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    monkeypatch.setenv("PTC_GIT_REPOSITORY", str(repo))
    monkeypatch.setenv("PTC_FILES_ROOT", str(tmp_path))
    monkeypatch.setenv("PTC_MEMORY_FILE", str(tmp_path / "memory.jsonl"))
    monkeypatch.chdir(tmp_path)  # the file's relative paths hold wherever the gateway runs
    (tmp_path / "gateway.toml").write_text("", encoding="utf-8")
    argv = ("--servers", str(FIVE_SERVERS), "--config", str(tmp_path / "gateway.toml"), "--format", "python")
    code, first, err = _run(capsys, *argv)
    assert code == 0, err
    scope: dict[str, Any] = {}
    exec(compile(first, "stubs.py", "exec"), scope)
    expected = real_catalog()
    rendered: set[tuple[str, str]] = set()
    for namespace in expected.namespaces:
        stub_class: type = scope[namespace.python_name]
        members: dict[str, object] = dict(vars(stub_class))
        rendered |= {
            (namespace.python_name, name) for name, member in members.items() if isinstance(member, staticmethod)
        }
    assert rendered == {(tool.namespace, tool.python_name) for tool in expected.tools}
    assert len(rendered) == 50
    code, second, err = _run(capsys, *argv)
    assert code == 0, err
    assert second == first


@pytest.mark.servers
def test_a_server_that_cannot_start_is_reported_and_the_others_are_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    servers = _servers_file(tmp_path, broken={"command": str(tmp_path / "no-such-server")})
    code, out, err = _run(
        capsys, "--servers", str(servers), "--format", "json", "--config", str(tmp_path / "gateway.toml")
    )
    assert code == 1
    assert "server 'broken' is not available" in err
    entries = json.loads(out)
    assert {e["server"] for e in entries} == {"everything", "filesystem", "git", "memory", "time"}
    assert len(entries) == 50


def test_render_catalog_formats_without_servers() -> None:
    settings = GatewaySettings()
    toolbox = build_toolbox(real_specs(), settings=settings)
    assert render_catalog(toolbox, "python") == render_module(build_catalog(real_specs()))
    assert len(json.loads(render_catalog(toolbox, "json"))) == 50
    prompt = render_catalog(toolbox, "prompt")
    assert prompt.startswith(f"Use `{settings.serve.tool_name}` to run Python code")
    assert "class git:" in prompt
