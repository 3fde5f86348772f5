"""The scripted models derive every call from what they are shown, not from hard-coded names.

A PTC model reads namespaces, signatures, `Literal` choices, record fields and the documented
standard budget from the rendered stubs in the system prompt; a classic model checks its calls
against the offered tool schemas. A prompt that does not show a call makes the model fail loudly.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
import pytest

from gateway.models import BedrockModelClient
from gateway.orchestrator import ask
from tests.bedrock.endpoint import Endpoint, ScriptedModel, Turn
from tests.bedrock.scripted import JOIN, TRAVEL, StubMismatchError, Stubs, classic_model, ptc_model
from tests.orchestrator.conftest import OpenGateway

Serve = Callable[[ScriptedModel], Endpoint]
CLAUDE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


@pytest.mark.anyio
async def test_programs_follow_the_namespaces_in_the_prompt(bedrock: Serve, open_demo_gateway: OpenGateway) -> None:
    async with open_demo_gateway(names=("ledger", "people")) as gateway:
        ptc_endpoint = bedrock(ptc_model(JOIN))
        with anyio.fail_after(90):
            ptc = await ask(gateway, JOIN.question, model=BedrockModelClient(model_id=CLAUDE))
        classic_endpoint = bedrock(classic_model(JOIN, parallel=True))
        with anyio.fail_after(90):
            classic = await ask(gateway, JOIN.question, model=BedrockModelClient(model_id=CLAUDE), mode="classic")
    (use,) = [b for b in ptc_endpoint.turns[1].messages[1]["content"] if b["type"] == "tool_use"]
    code = use["input"]["code"]
    assert "await ledger.get_expenses(" in code
    assert "await people.get_employee_record(" in code
    assert "expenses." not in code
    assert "hr." not in code
    assert ptc.answer.startswith("Engineering Q3 travel spend by office: ")
    assert classic.answer == ptc.answer
    assert "ledger__get_expenses" in {t["name"] for t in classic_endpoint.turns[0].tools}
    assert ptc_endpoint.model_errors == classic_endpoint.model_errors == []


@pytest.mark.anyio
async def test_a_call_the_prompt_does_not_show_is_refused(open_demo_gateway: OpenGateway) -> None:
    async with open_demo_gateway() as gateway:
        prompt = (await gateway.toolbox()).prompt.text
    program = TRAVEL.program(Stubs.read(prompt), False)
    assert "get_team_members" in program
    # A long signature wrapped over several lines reads the same.
    wrapped = prompt.replace("get_expenses(employee_id: str, ", "get_expenses(\n        employee_id: str,\n        ")
    assert wrapped != prompt
    assert TRAVEL.program(Stubs.read(wrapped), False) == program

    renamed_param = prompt.replace("get_team_members(department: str)", "get_team_members(team: str)")
    with pytest.raises(StubMismatchError, match=r"no parameter \['department'\]"):
        TRAVEL.program(Stubs.read(renamed_param), False)

    narrower_literal = prompt.replace('Literal["Q1", "Q2", "Q3", "Q4"]', 'Literal["Q1", "Q2"]')
    with pytest.raises(StubMismatchError, match="allows"):
        TRAVEL.program(Stubs.read(narrower_literal), False)

    lines = prompt.splitlines(keepends=True)
    no_status = "".join(line for line in lines if not line.startswith("    status: "))
    with pytest.raises(StubMismatchError, match="no field \\['status'\\]"):
        TRAVEL.program(Stubs.read(no_status), False)

    no_tool = prompt.replace("async def get_custom_budget(", "async def get_budget_override(")
    with pytest.raises(StubMismatchError, match="no tool 'get_custom_budget'"):
        TRAVEL.program(Stubs.read(no_tool), False)

    no_budget = prompt.replace("$5,000.00", "the amount in the handbook")
    with pytest.raises(StubMismatchError, match="standard travel budget"):
        TRAVEL.program(Stubs.read(no_budget), False)

    # The standard budget comes from the prompt too: change it and the program changes with it.
    assert "STANDARD = 7500.0" in TRAVEL.program(Stubs.read(prompt.replace("$5,000.00", "$7,500.00")), False)


def test_classic_calls_are_checked_against_the_offered_schemas() -> None:
    schema = {"type": "object", "properties": {"team": {"type": "string"}}, "required": ["team"]}
    turn = Turn(
        api="converse",
        model_id=CLAUDE,
        system="",
        messages=[{"role": "user", "content": [{"type": "text", "text": TRAVEL.question}]}],
        tools=[{"name": "expenses__get_team_members", "description": "", "input_schema": schema}],
        cache_point=False,
        raw={},
    )
    with pytest.raises(StubMismatchError, match=r"offers no parameter \['department'\]"):
        classic_model(TRAVEL)(turn)
    turn.tools = []
    with pytest.raises(StubMismatchError, match="no offered tool ends in 'get_team_members'"):
        classic_model(TRAVEL)(turn)
