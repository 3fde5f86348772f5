"""The done criterion of issue 13 and the seed question through `ask` and `serve`, on the AgentCore backend.

Real subprocesses of `ptc-gateway`, real boto3 against the local AgentCore endpoint (sessions are
hardened no-network containers), the real demo expenses MCP server behind a recording wrapper.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp_types import TextContent

from tests.agentcore.endpoint import Endpoint
from tests.bedrock.endpoint import Endpoint as BedrockEndpoint
from tests.bedrock.fixtures import bedrock
from tests.bedrock.scripted import TRAVEL, ptc_model
from tests.examples.test_expenses_server import EXPECTED
from tests.proxy.conftest import _open as open_test_proxy  # pyright: ignore[reportPrivateUsage]
from tests.proxy.test_ptc import VERSION as CODE_EXECUTION_VERSION
from tests.proxy.test_ptc import _client as proxy_client  # pyright: ignore[reportPrivateUsage]
from tests.proxy.test_ptc import code_then_answer
from tests.server.conftest import ListChanged, ready_description

__all__ = ["bedrock"]

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = str(Path(sys.executable).with_name("ptc-gateway"))
TEE = Path(__file__).with_name("tee_server.py")


def _demo_code() -> str:
    namespace: dict[str, object] = {}
    source = (ROOT / "examples" / "demo.py").read_text(encoding="utf-8")
    start = source.index('MODEL_CODE = """')
    exec(source[start : source.index('"""\n', start + 16) + 4], namespace)  # just the string literal
    code = namespace["MODEL_CODE"]
    assert isinstance(code, str)
    return code


def _servers_file(tmp_path: Path, log: Path) -> Path:
    path = tmp_path / "mcp.json"
    entry = {
        "command": sys.executable,
        "args": [str(TEE), str(log), "--", sys.executable, str(ROOT / "examples" / "expenses_server.py")],
    }
    path.write_text(json.dumps({"mcpServers": {"expenses": entry}}), encoding="utf-8")
    return path


def _env(tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PTC_")}
    config = tmp_path / "gateway.toml"
    config.write_text("", encoding="utf-8")
    env["PTC_CONFIG"] = str(config)
    return env


async def test_run_with_the_agentcore_sandbox_answers_the_demo_question(agentcore: Endpoint, tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    program = tmp_path / "program.py"
    program.write_text(_demo_code(), encoding="utf-8")
    with anyio.fail_after(180):
        done = await anyio.run_process(
            [GATEWAY, "run", str(program), "--servers", str(_servers_file(tmp_path, log)), "--sandbox", "agentcore"],
            env=_env(tmp_path),
            check=False,
        )
    out, err = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 0, err
    named = [line.split(" (")[0].removeprefix("- ") for line in out.splitlines() if line.startswith("- ")]
    assert sorted(named) == EXPECTED
    assert f"{len(EXPECTED)} of 16 engineering team members exceeded" in out
    calls = log.read_text(encoding="utf-8").split()
    assert len(calls) == 33  # 1 + 2 x 16: every call reached the MCP server
    assert calls.count("get_expenses") == calls.count("get_custom_budget") == 16
    assert agentcore.count("sessions/start") == agentcore.count("sessions/stop") == 1


async def test_ask_answers_the_seed_question_on_agentcore(
    agentcore: Endpoint, bedrock: Callable[..., BedrockEndpoint], tmp_path: Path
) -> None:
    bedrock(ptc_model(TRAVEL))
    log = tmp_path / "calls.log"
    with anyio.fail_after(180):
        done = await anyio.run_process(
            [
                GATEWAY,
                "ask",
                TRAVEL.question,
                "--servers",
                str(_servers_file(tmp_path, log)),
                "--sandbox",
                "agentcore",
                "--json",
                "--model",
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            ],
            env=_env(tmp_path),
            check=False,
        )
    assert done.returncode == 0, done.stderr.decode()
    result = json.loads(done.stdout)
    assert result["answer"] == "Over their Q3 travel budget: Dana Garcia, Grace Larsen, Jonas Kowalski, Maya Varga."
    assert result["stats"]["tool_calls"] == 33
    assert len(log.read_text(encoding="utf-8").split()) == 33


async def test_serve_runs_execute_code_on_agentcore(agentcore: Endpoint, tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    args = ["serve", "--servers", str(_servers_file(tmp_path, log)), "--sandbox", "agentcore"]
    params = StdioServerParameters(command=GATEWAY, args=args, env=_env(tmp_path))
    with anyio.fail_after(180):
        changes = ListChanged()
        async with Client(params, message_handler=changes) as client:
            assert "expenses" in await ready_description(client, changes)
            result = await client.call_tool("execute_code", {"code": _demo_code()})
    assert not result.is_error, result.content
    text = "".join(block.text for block in result.content if isinstance(block, TextContent))
    for name in EXPECTED:
        assert name in text
    assert len(log.read_text(encoding="utf-8").split()) == 33


async def test_the_proxy_runs_programmatic_tool_calling_on_agentcore(
    agentcore: Endpoint, bedrock: Callable[..., BedrockEndpoint]
) -> None:
    code = 'print(len((await expenses.list_departments())["result"]))'
    bedrock(code_then_answer(code))
    async with open_test_proxy(backend="agentcore") as running, proxy_client(running.url) as client:
        with anyio.fail_after(120):
            response = await client.messages.create(
                model="claude-opus-4-6",
                max_tokens=1000,
                tools=[{"type": CODE_EXECUTION_VERSION, "name": "code_execution"}],
                messages=[{"role": "user", "content": "How many departments are there?"}],
            )
    result = response.content[2]
    assert result.type == "code_execution_tool_result" and result.content.type == "code_execution_result"
    assert (result.content.stdout, result.content.return_code) == ("5\n", 0)
    assert response.content[3].type == "text" and response.content[3].text == "Answer: 5"
    assert agentcore.count("sessions/start") >= 1
