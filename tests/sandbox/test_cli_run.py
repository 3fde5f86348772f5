"""`ptc-gateway run` end to end: a real stdio server, the real Docker sandbox."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gateway.cli import main
from tests.sandbox._docker import TEST_IMAGE, docker_settings

SERVER = Path(__file__).resolve().parents[2] / "examples" / "expenses_server.py"


def write_config(tmp_path: Path, *, extra: str = "") -> Path:
    config = tmp_path / "gateway.toml"
    config.write_text(
        f"""
[servers.expenses]
command = {sys.executable!r}
args = [{str(SERVER)!r}]
{extra}

[sandbox]
image = {TEST_IMAGE!r}
memory_mb = 256
""",
        encoding="utf-8",
    )
    return config


def test_run_prints_the_programs_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docker_settings()
    code = tmp_path / "code.py"
    code.write_text("departments = await expenses.list_departments()\nprint('engineering' in str(departments))\n")
    status = main(["run", str(code), "--config", str(write_config(tmp_path))])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert captured.out == "True\n"


def test_run_fails_with_the_error_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docker_settings()
    code = tmp_path / "code.py"
    code.write_text("print('before')\n\nraise ValueError('boom')\n")
    status = main(["run", str(code), "--config", str(write_config(tmp_path))])
    captured = capsys.readouterr()
    assert status == 1
    assert captured.out == "before\n"
    assert "ValueError: boom" in captured.err
    assert 'File "<code>", line 3' in captured.err


def test_run_with_a_missing_file_is_a_config_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["run", str(tmp_path / "nope.py"), "--config", str(write_config(tmp_path))])
    assert status == 2
    assert "nope.py" in capsys.readouterr().err


def test_run_refuses_calls_needing_approval_unless_yes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docker_settings()
    config = write_config(tmp_path, extra='require_approval = ["list_departments"]')
    code = tmp_path / "code.py"
    code.write_text("print(len(await expenses.list_departments()))\n")
    status = main(["run", str(code), "--config", str(config)])
    captured = capsys.readouterr()
    assert status == 1
    assert "ToolError" in captured.err
    status = main(["run", str(code), "--config", str(config), "--yes"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert captured.out.strip().isdigit()
