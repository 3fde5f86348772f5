"""A paused PTC execution on the AgentCore backend is resumed by another proxy replica.

No state is shared between the replicas but `[proxy] container_secret`, the signed `container.id`
the client carries back, and the AgentCore session itself. The real `anthropic` SDK is the client,
the local Bedrock endpoint plays the model, the local AgentCore endpoint runs the sessions (hardened
containers); the `agentcore` fixture checks that no session is left running.

The program pauses twice, so each flow is: pause on one replica, resume on the other (which pauses
again), resume on the first, final answer.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncGenerator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anthropic
import anyio
import pytest

from tests._support import require
from tests.agentcore.endpoint import Endpoint
from tests.bedrock.endpoint import Endpoint as BedrockEndpoint
from tests.bedrock.fixtures import bedrock
from tests.deploy._gateway import free_port
from tests.proxy.conftest import _open as open_test_proxy  # pyright: ignore[reportPrivateUsage]
from tests.proxy.test_ptc import QUERY_TOOL, VERSION, code_then_answer, run_query

__all__ = ["bedrock"]

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
SECRET = "a-secret-the-replicas-share"
KEY = "sk-test-resume"
TOOLS: Any = [{"type": VERSION, "name": "code_execution"}, QUERY_TOOL]
CODE = """\
departments = len((await expenses.list_departments())["result"])
east = await client.query_database(sql="SELECT revenue FROM sales WHERE region = 'east'")
print("east:", east[0]["revenue"])
west = await client.query_database(sql="SELECT revenue FROM sales WHERE region = 'west'")
print("total:", sum(r["revenue"] for r in east + west), "departments:", departments)
"""
EXPECTED_STDOUT = "east: 1200\ntotal: 2010 departments: 5\n"


def replica_of(container_id: str) -> str:
    """The replica that issued a `container.id` (the unsealed part of its payload names it)."""
    payload = container_id.removeprefix("container_").split(".")[0]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["r"]


async def converse(urls: list[str], *, replay: bool = False) -> tuple[list[str], anthropic.types.Message]:
    """The PTC conversation, request i going to urls[i % len(urls)]; (replica of each pause, last message).

    `replay`: after the first resume, send it again (a client retry) to the first url: refused.
    """
    messages: Any = [{"role": "user", "content": "What is the total revenue of the east and west regions?"}]
    pauses: list[str] = []
    container: str | None = None
    for turn in range(4):
        url = urls[turn % len(urls)]
        extra: Any = {"container": container} if container is not None else {}
        sent = list(messages)
        async with anthropic.AsyncAnthropic(base_url=url, api_key=KEY, max_retries=0) as client:
            response = await client.messages.create(
                model="claude-opus-4-6", max_tokens=1000, tools=TOOLS, messages=sent, **extra
            )
        if replay and turn == 1:
            async with anthropic.AsyncAnthropic(base_url=urls[0], api_key=KEY, max_retries=0) as client:
                with pytest.raises(anthropic.BadRequestError, match="resumed already"):
                    await client.messages.create(
                        model="claude-opus-4-6", max_tokens=1000, tools=TOOLS, messages=sent, **extra
                    )
        if response.stop_reason != "tool_use":
            return pauses, response
        assert response.container is not None
        container = response.container.id
        pauses.append(replica_of(container))
        uses = [block for block in response.content if block.type == "tool_use"]
        assert len(uses) == 1
        messages.append({"role": "assistant", "content": response.content})
        messages.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": use.id, "content": run_query(use.input["sql"])}  # type: ignore[index]
                    for use in uses
                ],
            }
        )
    raise AssertionError("the conversation did not end")


def check_final(response: anthropic.types.Message) -> None:
    result = next(block for block in response.content if block.type == "code_execution_tool_result")
    assert result.content.type == "code_execution_result"
    assert (result.content.stdout, result.content.stderr, result.content.return_code) == (EXPECTED_STDOUT, "", 0)
    assert response.content[-1].type == "text"
    assert response.content[-1].text == f"Answer: {EXPECTED_STDOUT.strip()}"
    assert response.container is None


async def test_a_paused_execution_is_resumed_by_another_replica(
    agentcore: Endpoint, bedrock: Callable[..., BedrockEndpoint]
) -> None:
    model = bedrock(code_then_answer(CODE))
    settings: Any = {"container_secret": SECRET, "api_keys": [KEY]}
    async with (
        open_test_proxy(backend="agentcore", replica_id="a", **settings) as a,
        open_test_proxy(backend="agentcore", replica_id="b", **settings) as b,
    ):
        with anyio.fail_after(180):
            pauses, final = await converse([a.url, b.url], replay=True)
        assert len(a.running.store) == len(b.running.store) == 0  # nothing held in memory between requests
    assert pauses == ["a", "b"]  # paused on a, resumed (and paused again) on b, finished on a
    check_final(final)
    # The model saw one execute_code round trip; the client tools' calls never reached it.
    assert [len(turn.tool_results()) for turn in model.turns] == [0, 1]
    assert agentcore.count("sessions/start") == agentcore.count("sessions/stop")


# --- two `ptc-gateway proxy` processes behind HAProxy -------------------------------------------------


@asynccontextmanager
async def proxy_process(tmp_path: Path, replica: str) -> AsyncGenerator[tuple[str, int]]:
    """`ptc-gateway proxy --sandbox agentcore` as replica `replica`; yields (host, port)."""
    config = tmp_path / f"{replica}.toml"
    config.write_text(
        "[sandbox]\npool_size = 0\n"
        f"[proxy]\nreplica_id = '{replica}'\ncontainer_secret = '{SECRET}'\napi_keys = ['{KEY}']\n",
        encoding="utf-8",
    )
    servers = tmp_path / "mcp.json"
    entry = {"command": sys.executable, "args": [str(ROOT / "examples" / "expenses_server.py")]}
    servers.write_text(json.dumps({"mcpServers": {"expenses": entry}}), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PTC_")}
    port = free_port()
    command = [sys.executable, "-m", "gateway.cli", "proxy", "--port", str(port), "--config", str(config)]
    command += ["--servers", str(servers), "--sandbox", "agentcore"]
    async with await anyio.open_process(command, env=env, stdout=subprocess.DEVNULL) as process:
        assert process.stderr is not None
        seen = b""
        try:
            with anyio.fail_after(90):
                while re.search(rb"proxy on http://\S+", seen) is None:
                    seen += await process.stderr.receive()
            yield "127.0.0.1", port
        finally:
            process.terminate()
            with anyio.CancelScope(shield=True), anyio.fail_after(60):
                await process.wait()


@asynccontextmanager
async def haproxy(replicas: list[tuple[str, int]]) -> AsyncGenerator[str]:
    """HAProxy with the shipped deploy/haproxy.cfg (round-robin) in front of `replicas`; yields its URL."""
    binary = shutil.which("haproxy")
    require(binary is not None, "haproxy", "scripts/install-deploy-tools")
    assert binary is not None
    port = free_port()
    env = {**os.environ, "PTC_LB_BIND": f"127.0.0.1:{port}"}
    env.update({f"PTC_LB_REPLICA_{i}": f"{host}:{p}" for i, (host, p) in enumerate(replicas, 1)})
    command = [binary, "-f", str(ROOT / "deploy" / "haproxy.cfg"), "-db"]
    async with await anyio.open_process(command, env=env, stdout=subprocess.DEVNULL) as process:
        try:
            with anyio.fail_after(30):
                while True:  # until it accepts connections (servers start "up")
                    try:
                        await (await anyio.connect_tcp("127.0.0.1", port)).aclose()
                        break
                    except OSError:
                        assert process.returncode is None, "haproxy exited"
                        await anyio.sleep(0.05)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            with anyio.CancelScope(shield=True):
                await process.wait()


async def test_replicas_behind_haproxy_round_robin_resume_each_others_executions(
    agentcore: Endpoint, bedrock: Callable[..., BedrockEndpoint], tmp_path: Path
) -> None:
    bedrock(code_then_answer(CODE))
    async with AsyncExitStack() as stack:
        replicas = [await stack.enter_async_context(proxy_process(tmp_path, name)) for name in ("p1", "p2")]
        url = await stack.enter_async_context(haproxy(replicas))
        with anyio.fail_after(180):
            pauses, final = await converse([url])
    assert len(pauses) == 2 and pauses[0] != pauses[1]  # the resume was served by the other replica
    check_final(final)
    assert agentcore.count("sessions/start") == agentcore.count("sessions/stop")
