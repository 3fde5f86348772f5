"""`ptc-gateway ask` as a real subprocess, against the local Bedrock endpoint and the demo server."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from tests.bedrock.endpoint import Endpoint, ScriptedModel
from tests.bedrock.scripted import ONE_CALL, TRAVEL, classic_model, ptc_model

Serve = Callable[[ScriptedModel], Endpoint]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LLAMA = "meta.llama3-8b-instruct-v1:0"


def _servers_file(tmp_path: Path) -> Path:
    path = tmp_path / "mcp.json"
    entry = {"command": sys.executable, "args": [str(EXAMPLES / "expenses_server.py")]}
    path.write_text(json.dumps({"mcpServers": {"expenses": entry}}), encoding="utf-8")
    return path


async def _run(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    with anyio.fail_after(90):
        process = await anyio.run_process(
            [sys.executable, "-c", "import sys; from gateway.cli import main; sys.exit(main())", *args],
            env=env,
            check=False,
            cwd=str(EXAMPLES.parent),
        )
    return process.returncode, process.stdout.decode(), process.stderr.decode()


@pytest.mark.anyio
async def test_ask_json(bedrock: Serve, tmp_path: Path) -> None:
    endpoint = bedrock(ptc_model(TRAVEL))
    env = dict(os.environ)
    code, out, err = await _run(
        [
            "ask",
            TRAVEL.question,
            "--servers",
            str(_servers_file(tmp_path)),
            "--sandbox",
            "local-process",
            "--json",
            "--model",
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        ],
        env,
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["answer"] == "Over their Q3 travel budget: Dana Garcia, Grace Larsen, Jonas Kowalski, Maya Varga."
    assert result["stop"] == "answered"
    assert result["stats"]["turns"] == 2
    assert result["stats"]["tool_calls"] == 33
    assert result["stats"]["mode"] == "ptc"
    assert endpoint.turns[0].model_id == "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


@pytest.mark.anyio
async def test_ask_streams_answer_and_prints_summary(bedrock: Serve, tmp_path: Path) -> None:
    endpoint = bedrock(ptc_model(ONE_CALL, fenced=True))
    env = {**os.environ, "PTC_MODEL_ID": LLAMA}
    code, out, err = await _run(
        ["ask", ONE_CALL.question, "--servers", str(_servers_file(tmp_path)), "--sandbox", "local-process"], env
    )
    assert code == 0, err
    assert out.rstrip().endswith("The departments are: engineering, finance, marketing, operations, sales.")
    assert "```python" in out  # the first (streamed) reply carried the program
    assert "[running a 1-line program in the sandbox]" in err
    assert "model turns   2" in err
    assert [turn.model_id for turn in endpoint.turns] == [LLAMA, LLAMA]
    assert [turn.api for turn in endpoint.turns] == ["converse-stream", "converse-stream"]


@pytest.mark.anyio
async def test_ask_reports_a_model_error_without_a_traceback(bedrock: Serve, tmp_path: Path) -> None:
    endpoint = bedrock(ptc_model(ONE_CALL))
    endpoint.throttle(100)
    env = {**os.environ, "PTC_MODEL__MAX_ATTEMPTS": "2"}
    code, out, err = await _run(
        ["ask", ONE_CALL.question, "--servers", str(_servers_file(tmp_path)), "--sandbox", "local-process"], env
    )
    assert code == 1
    assert out == ""
    assert "Traceback" not in err
    assert "ptc-gateway: Bedrock throttled model 'us.anthropic.claude-sonnet-4-5-20250929-v1:0'" in err
    assert "2 attempts did not get through" in err
    assert endpoint.throttled == 2


@pytest.mark.anyio
async def test_ask_classic_mode_json(bedrock: Serve, tmp_path: Path) -> None:
    endpoint = bedrock(classic_model(ONE_CALL))
    env = {**os.environ, "PTC_MODEL_ID": "us.amazon.nova-pro-v1:0"}
    code, out, err = await _run(
        [
            "ask",
            ONE_CALL.question,
            "--mode",
            "classic",
            "--json",
            "--sandbox",
            "local-process",
            "--servers",
            str(_servers_file(tmp_path)),
        ],
        env,
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["answer"] == "The departments are: engineering, finance, marketing, operations, sales."
    assert result["stats"]["mode"] == "classic"
    assert result["stats"]["turns"] == 2
    assert result["stats"]["tool_calls"] == 1
    assert result["stats"]["executions"] == 0
    assert [t.model_id for t in endpoint.turns] == ["us.amazon.nova-pro-v1:0"] * 2
    assert "expenses__list_departments" in {t["name"] for t in endpoint.turns[0].tools}
