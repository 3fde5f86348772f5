"""A second, independent client: the Anthropic TypeScript SDK (npm `@anthropic-ai/sdk`, Node >= 20)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from tests._support import require
from tests.bedrock.endpoint import Endpoint, Reply, ScriptedModel, Turn
from tests.proxy.conftest import KEY, OpenProxy

Serve = Callable[[ScriptedModel], Endpoint]
pytestmark = [pytest.mark.anyio, pytest.mark.servers]
NODE_DIR = Path(__file__).resolve().parent / "node"


async def test_typescript_sdk_plain_and_streaming(bedrock: Serve, proxy: OpenProxy) -> None:
    node = shutil.which("node")
    require(
        node is not None and (NODE_DIR / "node_modules" / "@anthropic-ai" / "sdk").is_dir(),
        "Node.js and the Anthropic TypeScript SDK",
        "scripts/install-test-servers",
    )
    assert node is not None

    def model(turn: Turn) -> Reply:
        return Reply(text=f"Hello! You wrote: {turn.question()}")

    endpoint = bedrock(model)
    async with proxy(fleet=False) as running:
        env = {**os.environ, "PROXY_URL": running.url, "PROXY_KEY": KEY, "MODEL": "claude-haiku-4-5"}
        with anyio.fail_after(60):
            result = await anyio.run_process([node, str(NODE_DIR / "client.mjs")], env=env, cwd=NODE_DIR)
    output = json.loads(result.stdout)
    plain, streamed = output["plain"], output["streamed"]
    assert plain["content"] == [{"type": "text", "text": "Hello! You wrote: hello from TypeScript"}]
    assert streamed["content"] == plain["content"]
    assert streamed["stop_reason"] == plain["stop_reason"] == "end_turn"
    assert streamed["usage"]["output_tokens"] == plain["usage"]["output_tokens"]
    assert output["events"][0] == "message_start" and output["events"][-1] == "message_stop"
    assert "content_block_delta" in output["events"]
    assert [t.api for t in endpoint.turns] == ["invoke", "invoke-with-response-stream"]
