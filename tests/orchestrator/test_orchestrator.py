"""The PTC loop and classic mode, end to end: boto3 → local Bedrock endpoint → scripted model,
code → sandbox → bridge → the real demo MCP servers."""

from __future__ import annotations

import threading
from collections.abc import Callable

import anyio
import pytest

from gateway.config import ModelSettings
from gateway.models import BedrockModelClient
from gateway.orchestrator import Hooks, ask
from tests.bedrock.endpoint import Endpoint, Reply, ScriptedModel, ToolCall, Turn
from tests.bedrock.scripted import JOIN, ONE_CALL, TRAVEL, Stubs, classic_model, ptc_model
from tests.orchestrator.conftest import OpenGateway

Serve = Callable[[ScriptedModel], Endpoint]
CLAUDE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
LLAMA = "meta.llama3-8b-instruct-v1:0"  # no native tool use: fenced code
EXPECTED = "Over their Q3 travel budget: Dana Garcia, Grace Larsen, Jonas Kowalski, Maya Varga."
SETTINGS = ModelSettings(id=CLAUDE)


@pytest.mark.anyio
async def test_seed_question_ptc_in_two_turns_classic_in_many_same_answer(
    bedrock: Serve, open_demo_gateway: OpenGateway
) -> None:
    async with open_demo_gateway() as gateway:
        ptc_endpoint = bedrock(ptc_model(TRAVEL))
        with anyio.fail_after(90):
            ptc = await ask(gateway, TRAVEL.question, model=BedrockModelClient(model_id=CLAUDE), mode="ptc")
        classic_endpoint = bedrock(classic_model(TRAVEL))
        with anyio.fail_after(90):
            classic = await ask(gateway, TRAVEL.question, model=BedrockModelClient(model_id=CLAUDE), mode="classic")

    assert ptc.stop == "answered"
    assert ptc.answer == EXPECTED
    assert ptc.stats.turns <= 2
    assert ptc.stats.executions == 1
    assert ptc.stats.tool_calls == 33

    assert classic.stop == "answered"
    assert classic.answer == ptc.answer
    assert classic.stats.turns >= 20
    assert classic.stats.tool_calls == 33

    # What the PTC model saw: the stubs in the system prompt, exactly one tool in toolConfig.
    first = ptc_endpoint.turns[0]
    assert "class expenses:" in first.system
    assert "async def get_expenses(" in first.system
    assert [t["name"] for t in first.tools] == ["execute_code"]
    assert first.cache_point
    # The prefix is byte-stable across turns, so the second turn reads it from the prompt cache.
    assert ptc_endpoint.turns[1].system == first.system
    assert ptc.stats.cache_read_input_tokens > 0
    # Classic offered every tool under a Bedrock-legal name.
    classic_tools = {t["name"] for t in classic_endpoint.turns[0].tools}
    assert {"expenses__get_team_members", "expenses__get_expenses", "hr__get_employee_record"} <= classic_tools

    assert ptc.stats.total_input_tokens * 20 < classic.stats.total_input_tokens
    assert ptc.stats.tool_output_bytes * 20 < classic.stats.tool_output_bytes


@pytest.mark.anyio
async def test_join_across_two_servers_agrees(bedrock: Serve, open_demo_gateway: OpenGateway) -> None:
    async with open_demo_gateway() as gateway:
        bedrock(ptc_model(JOIN))
        with anyio.fail_after(90):
            ptc = await ask(gateway, JOIN.question, model=BedrockModelClient(model_id=CLAUDE))
        bedrock(classic_model(JOIN))
        with anyio.fail_after(90):
            classic = await ask(gateway, JOIN.question, model=BedrockModelClient(model_id=CLAUDE), mode="classic")
    assert ptc.answer.startswith("Engineering Q3 travel spend by office: ")
    assert ptc.answer == classic.answer
    assert ptc.stats.turns == 2
    assert classic.stats.tool_calls == ptc.stats.tool_calls == 34


@pytest.mark.anyio
async def test_model_without_tool_use_writes_fenced_code(bedrock: Serve, open_demo_gateway: OpenGateway) -> None:
    endpoint = bedrock(ptc_model(TRAVEL, fenced=True))
    async with open_demo_gateway(hr=False) as gateway:
        with anyio.fail_after(90):
            result = await ask(gateway, TRAVEL.question, model=BedrockModelClient(model_id=LLAMA))
    assert result.answer == EXPECTED
    assert result.stats.turns == 2
    first, second = endpoint.turns
    assert first.tools == []
    assert "toolConfig" not in first.raw
    assert not first.cache_point  # Llama on Bedrock has no prompt caching
    assert "ONE\nfenced ```python block" in first.system
    assert second.last_text().startswith("Output of your program:\n16 members, first: ")


@pytest.mark.anyio
@pytest.mark.parametrize("fenced", [False, True])
async def test_code_error_is_fixed_on_the_next_turn(
    bedrock: Serve, open_demo_gateway: OpenGateway, fenced: bool
) -> None:
    endpoint = bedrock(ptc_model(TRAVEL, fenced=fenced, buggy_first=True))
    model = BedrockModelClient(model_id=LLAMA if fenced else CLAUDE)
    async with open_demo_gateway(hr=False) as gateway:
        with anyio.fail_after(90):
            result = await ask(gateway, TRAVEL.question, model=model)
    assert result.answer == EXPECTED
    assert result.stats.turns == 3
    assert result.stats.executions == 2
    feedback = endpoint.turns[1].last_text() if fenced else endpoint.turns[1].tool_results()[0]["text"]
    assert "KeyError" in feedback
    assert '"<code>", line 3, in <module>' in feedback  # the traceback points into the model's own code
    if not fenced:
        assert endpoint.turns[1].tool_results()[0]["is_error"]


@pytest.mark.anyio
async def test_throttling_during_a_run_is_retried(bedrock: Serve, open_demo_gateway: OpenGateway) -> None:
    endpoint = bedrock(ptc_model(ONE_CALL))
    endpoint.throttle(2)
    async with open_demo_gateway(hr=False) as gateway:
        with anyio.fail_after(90):
            result = await ask(gateway, ONE_CALL.question, model=BedrockModelClient(model_id=CLAUDE))
    assert result.answer == "The departments are: engineering, finance, marketing, operations, sales."
    assert endpoint.throttled == 2
    assert result.stats.turns == 2


@pytest.mark.anyio
@pytest.mark.parametrize("api", ["converse-stream", "invoke"])
async def test_streamed_and_invoke_model_runs(bedrock: Serve, open_demo_gateway: OpenGateway, api: str) -> None:
    endpoint = bedrock(ptc_model(ONE_CALL))
    streamed: list[str] = []
    codes: list[str] = []

    async def on_text(text: str) -> None:
        streamed.append(text)

    async def on_code(code: str) -> None:
        codes.append(code)

    hooks = Hooks(on_text=on_text, on_code=on_code) if api == "converse-stream" else Hooks(on_code=on_code)
    model = BedrockModelClient(model_id=CLAUDE, api="invoke" if api == "invoke" else "converse")
    async with open_demo_gateway(hr=False) as gateway:
        with anyio.fail_after(90):
            result = await ask(gateway, ONE_CALL.question, model=model, hooks=hooks)
    assert result.answer == "The departments are: engineering, finance, marketing, operations, sales."
    assert [t.api for t in endpoint.turns] == [api, api]
    assert codes == [ONE_CALL.program(Stubs.read(endpoint.turns[0].system), False)]
    if api == "converse-stream":
        assert len(streamed) > 3
        assert "".join(streamed).endswith(result.answer)


@pytest.mark.anyio
async def test_max_turns_stops_a_model_that_never_answers(bedrock: Serve, open_demo_gateway: OpenGateway) -> None:
    def stubborn(turn: Turn) -> Reply:
        return Reply(tool_calls=[ToolCall(name="execute_code", input={"code": "print(1)"})])

    bedrock(stubborn)
    async with open_demo_gateway(hr=False) as gateway:
        with anyio.fail_after(90):
            result = await ask(
                gateway,
                "loop",
                model=BedrockModelClient(model_id=CLAUDE),
                settings=ModelSettings(id=CLAUDE, max_turns=3),
            )
    assert result.stop == "max_turns"
    assert result.stats.turns == 3
    assert result.stats.executions == 3


@pytest.mark.anyio
@pytest.mark.docker
async def test_seed_question_in_the_docker_sandbox(bedrock: Serve, open_demo_gateway: OpenGateway) -> None:
    endpoint = bedrock(ptc_model(TRAVEL))
    async with open_demo_gateway(backend="docker", hr=False) as gateway:
        with anyio.fail_after(120):
            result = await ask(gateway, TRAVEL.question, model=BedrockModelClient(model_id=CLAUDE))
    # What the model read after its program ran: on a failure this says why (a sandbox error, a
    # limit), instead of only a wrong turn count.
    assert endpoint.model_errors == []
    (output,) = endpoint.turns[1].tool_results()
    assert not output["is_error"], output["text"]
    assert "16 members, first: " in output["text"]
    assert result.answer == EXPECTED
    assert result.stats.turns == 2
    assert result.stats.tool_calls == 33


@pytest.mark.anyio
async def test_classic_with_parallel_tool_calls_in_one_turn(bedrock: Serve, open_demo_gateway: OpenGateway) -> None:
    endpoint = bedrock(classic_model(TRAVEL, parallel=True))
    async with open_demo_gateway(hr=False) as gateway:
        with anyio.fail_after(90):
            result = await ask(gateway, TRAVEL.question, model=BedrockModelClient(model_id=CLAUDE), mode="classic")
    assert result.answer == EXPECTED
    assert result.stats.turns == 3
    assert result.stats.tool_calls == 33
    assert len(endpoint.turns[2].tool_results()) == 32  # every toolUse of a turn answered in one user message


@pytest.mark.anyio
async def test_run_timeout_ends_a_run_while_the_model_is_still_thinking(
    bedrock: Serve, open_demo_gateway: OpenGateway
) -> None:
    release = threading.Event()

    def slow(turn: Turn) -> Reply:
        release.wait(60)
        return Reply(text="too late")

    bedrock(slow)
    settings = ModelSettings(id=CLAUDE, run_timeout_s=0.5)
    try:
        async with open_demo_gateway(hr=False) as gateway:
            with anyio.fail_after(30):
                result = await ask(gateway, "q", model=BedrockModelClient(model_id=CLAUDE), settings=settings)
    finally:
        release.set()
    assert result.stop == "timeout"
    assert result.answer == ""
    assert result.stats.turns == 0


@pytest.mark.anyio
async def test_each_execution_gets_a_fresh_sandbox_and_a_capped_result(
    bedrock: Serve, open_demo_gateway: OpenGateway
) -> None:
    programs = [
        "secret = 41\nprint('set', secret)\n",
        "print('survived:', 'secret' in globals())\nprint('y' * 5000)\n",
    ]

    def model(turn: Turn) -> Reply:
        if turn.index < len(programs):
            return Reply(tool_calls=[ToolCall(name="execute_code", input={"code": programs[turn.index]})])
        return Reply(text="done")

    endpoint = bedrock(model)
    settings = ModelSettings(id=CLAUDE, tool_result_max_bytes=1000)
    async with open_demo_gateway(hr=False) as gateway:
        with anyio.fail_after(90):
            result = await ask(gateway, "q", model=BedrockModelClient(model_id=CLAUDE), settings=settings)
    assert result.stop == "answered"
    assert result.stats.executions == 2
    second = endpoint.turns[2].tool_results()[0]["text"]
    assert second.startswith("survived: False\nyyy")
    assert len(second.encode()) < 1100
    assert "more bytes cut: print less" in second
    first = endpoint.turns[1].tool_results()[0]["text"]
    assert result.stats.tool_output_bytes == len(first.encode()) + len(second.encode())
