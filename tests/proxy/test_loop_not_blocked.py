"""Serving the proxy never blocks the event loop (blockbuster): plain, streamed and PTC requests with a pause."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic
import anyio
import pytest
from blockbuster import BlockBuster

from tests.bedrock.endpoint import Endpoint, ScriptedModel
from tests.proxy.conftest import KEY, OpenProxy
from tests.proxy.test_ptc import PARALLEL_CODE, TOOLS, code_then_answer, run_query

Serve = Callable[[ScriptedModel], Endpoint]
pytestmark = pytest.mark.anyio


async def test_requests_do_not_block_the_loop(bedrock: Serve, proxy: OpenProxy) -> None:
    bedrock(code_then_answer(PARALLEL_CODE))

    def client_program(url: str) -> str:  # a worker thread: the client's own blocking is not the proxy's
        with anthropic.Anthropic(base_url=url, api_key=KEY, max_retries=0) as client:
            plain: Any = [{"role": "user", "content": "hi"}]
            client.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=plain)
            with client.messages.stream(model="claude-haiku-4-5", max_tokens=10, messages=plain) as stream:
                stream.get_final_message()
            messages: Any = [{"role": "user", "content": "Total?"}]
            paused = client.messages.create(model="claude-opus-4-6", max_tokens=100, tools=TOOLS, messages=messages)
            assert paused.container is not None
            calls = [b for b in paused.content if b.type == "tool_use"]
            messages += [
                {"role": "assistant", "content": paused.content},
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": c.id, "content": run_query(str(c.input))} for c in calls
                    ],
                },
            ]
            done = client.messages.create(
                model="claude-opus-4-6", max_tokens=100, tools=TOOLS, messages=messages, container=paused.container.id
            )
            last = done.content[-1]
            assert last.type == "text"
            return last.text

    async with proxy(fleet=False) as running:
        blockbuster = BlockBuster()
        blockbuster.activate()
        try:
            with anyio.fail_after(60):
                answer = await anyio.to_thread.run_sync(client_program, running.url)
        finally:
            blockbuster.deactivate()
    assert answer == "Answer: total: 2010"
