"""Installed the way users install MCP servers: a wheel in a clean virtualenv, `pipx install`, `uvx --from`.

Every command runs from a directory outside the checkout, with no `PTC_*` configuration, so nothing
can come from the repository by accident: the image recipe must come from the wheel's package data.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests._support import require
from tests.examples.test_expenses_server import EXPECTED
from tests.sandbox._docker import TEST_IMAGE, docker_settings
from tests.server.conftest import ListChanged, ready_description

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DEMO_CODE = (ROOT / "examples" / "demo.py").read_text(encoding="utf-8").split('MODEL_CODE = """\\\n')[1].split('"""')[0]


def _tool(name: str) -> str:
    path = BIN / name
    require(path.exists(), name, '.venv/bin/python -m pip install -e ".[dev]"')
    return str(path)


def _clean_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PTC_", "VIRTUAL_ENV"))}
    return {**env, **extra}


def _run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None) -> str:
    proc = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env or _clean_env(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"{command}: exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory outside the checkout."""
    return tmp_path_factory.mktemp("elsewhere")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The wheel built from this checkout, installed into a fresh virtualenv outside it; yields its bin/."""
    uv = _tool("uv")
    work = tmp_path_factory.mktemp("wheel")
    _run(uv, "build", "--wheel", "--out-dir", work / "dist", ROOT, cwd=work)
    (wheel,) = (work / "dist").glob("ptc_gateway-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert {"gateway/_sandbox_image/Dockerfile", "gateway/_sandbox_image/requirements.txt"} <= names
    assert "bridge/runner.py" in names
    _run(uv, "venv", "--quiet", "--python", sys.executable, work / "venv", cwd=work)
    _run(uv, "pip", "install", "--quiet", "--python", work / "venv" / "bin" / "python", wheel, cwd=work)
    yield work / "venv" / "bin"
    shutil.rmtree(work, ignore_errors=True)


def _servers_file(directory: Path, python: Path) -> Path:
    """The demo expenses server, started by the installed environment's Python."""
    path = directory / "servers.json"
    server = {"command": str(python), "args": [str(ROOT / "examples" / "expenses_server.py")]}
    path.write_text(json.dumps({"mcpServers": {"expenses": server}}), encoding="utf-8")
    return path


def test_the_wheel_finds_its_image_recipe_in_site_packages(installed: Path, elsewhere: Path) -> None:
    out = _run(
        installed / "python",
        "-c",
        "from gateway.sandbox import recipe_dir as r; print(r()); print((r() / 'Dockerfile').is_file())",
        cwd=elsewhere,
    )
    where, is_file = out.split()
    assert Path(where).is_relative_to(installed.parent) and "site-packages" in where
    assert is_file == "True"


@pytest.mark.docker
def test_installed_cli_checks_the_image_and_answers_the_demo_question(installed: Path, elsewhere: Path) -> None:
    docker_settings()  # the engine answers and the image is current (fails under CI, skips elsewhere)
    cli = installed / "ptc-gateway"
    assert _run(cli, "image", "status", "--tag", TEST_IMAGE, cwd=elsewhere).strip() == f"{TEST_IMAGE}: current"
    built = _run(cli, "image", "build", "--if-missing", "--tag", TEST_IMAGE, cwd=elsewhere)
    assert f"{TEST_IMAGE} is up to date" in built

    servers = _servers_file(elsewhere, installed / "python")
    answer = _run(cli, "run", "-", "--servers", servers, cwd=elsewhere, stdin=DEMO_CODE)
    named = sorted(line.split(" (")[0].removeprefix("- ") for line in answer.splitlines() if line.startswith("- "))
    assert named == EXPECTED
    assert f"{len(EXPECTED)} of 16 engineering team members exceeded their Q3 travel budget" in answer


@pytest.mark.docker
def test_pipx_install_from_the_checkout(tmp_path: Path, elsewhere: Path) -> None:
    docker_settings()
    pipx = _tool("pipx")
    env = _clean_env(
        PIPX_HOME=str(tmp_path / "pipx"), PIPX_BIN_DIR=str(tmp_path / "bin"), PIPX_MAN_DIR=str(tmp_path / "man")
    )
    _run(pipx, "install", "--python", sys.executable, ROOT, cwd=elsewhere, env=env)
    status = _run(tmp_path / "bin" / "ptc-gateway", "image", "status", "--tag", TEST_IMAGE, cwd=elsewhere, env=env)
    assert status.strip() == f"{TEST_IMAGE}: current"


@pytest.mark.anyio
async def test_uvx_from_the_checkout_serves_over_stdio(elsewhere: Path) -> None:
    # The README's desktop-client snippet for the installed form, with the checkout's path filled in.
    snippet = (ROOT / "configs" / "clients" / "installed" / "claude_desktop.json").read_text(encoding="utf-8")
    entry = json.loads(snippet.replace("/ABSOLUTE/PATH/TO/ptc-gateway", str(ROOT)))["mcpServers"]["ptc-gateway"]
    assert entry["command"] == "uvx"
    params = StdioServerParameters(
        command=_tool("uvx"),
        args=entry["args"],
        # Listing tools and a tiny program need no container: keep the test independent of Docker.
        env=_clean_env(PTC_SANDBOX__BACKEND="local-process"),
        cwd=elsewhere,
    )
    changes = ListChanged()
    with anyio.fail_after(180):
        async with Client(params, message_handler=changes) as client:
            assert "async def list_departments" in await ready_description(client, changes)
            code = 'print(len((await expenses.list_departments())["result"]))'
            result = await client.call_tool("execute_code", {"code": code})
            assert not result.is_error, result.content
            assert result.structured_content is not None
            assert result.structured_content["stdout"] == "5\n"


def test_installed_cli_explains_what_the_gateway_image_build_needs(installed: Path, elsewhere: Path) -> None:
    # The gateway image packages a checkout; an installed wheel has none to offer (and a uv venv no pip).
    proc = subprocess.run(
        [str(installed / "ptc-gateway"), "image", "build", "--gateway", "--no-pull"],
        cwd=elsewhere,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    assert "needs a ptc-gateway checkout" in proc.stderr and "--source DIR" in proc.stderr
