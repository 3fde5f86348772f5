"""The demo expenses server answers the README's seed question definitely, over real MCP stdio."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

SERVER = Path(__file__).resolve().parents[2] / "examples" / "expenses_server.py"
STANDARD_TRAVEL_BUDGET_USD = 5000.00  # as documented in the server's get_custom_budget description
EXPECTED = ["Dana Garcia", "Grace Larsen", "Jonas Kowalski", "Maya Varga"]


def _structured(result: Any) -> Any:
    assert not result.is_error, result
    return result.structured_content["result"]


@pytest.mark.anyio
async def test_seed_question_has_a_definite_nontrivial_answer() -> None:
    params = StdioServerParameters(command=sys.executable, args=[str(SERVER)])
    with anyio.fail_after(60):
        async with Client(params) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            assert {"get_team_members", "get_expenses", "get_custom_budget"} <= set(tools)
            assert all(tool.output_schema for tool in tools.values())
            assert "5,000" in (tools["get_custom_budget"].description or "")

            members = _structured(await client.call_tool("get_team_members", {"department": "engineering"}))
            assert len(members) >= 12
            assert set(members[0]) == {"id", "name", "role", "level"}

            over: list[str] = []
            over_standard_but_within_custom: list[str] = []
            custom_below_standard: list[str] = []
            reply_bytes = 0
            for person in members:
                result = await client.call_tool("get_expenses", {"employee_id": person["id"], "quarter": "Q3"})
                reply_bytes += len(json.dumps(result.structured_content))
                items = _structured(result)
                travel = sum(i["amount"] for i in items if i["category"] == "travel" and i["status"] != "rejected")
                travel_incl_rejected = sum(i["amount"] for i in items if i["category"] == "travel")
                custom = _structured(await client.call_tool("get_custom_budget", {"user_id": person["id"]}))
                budget = STANDARD_TRAVEL_BUDGET_USD if custom is None else custom["travel_budget"]
                # No answer sits on a knife edge or hinges on rejected items.
                assert abs(travel - budget) > 50
                assert (travel > budget) == (travel_incl_rejected > budget)
                if travel > budget:
                    over.append(person["name"])
                elif travel > STANDARD_TRAVEL_BUDGET_USD:
                    over_standard_but_within_custom.append(person["name"])
                if custom is not None and budget < STANDARD_TRAVEL_BUDGET_USD:
                    custom_below_standard.append(person["name"])

            assert sorted(over) == EXPECTED
            assert over_standard_but_within_custom == ["Bruno Evans"]
            assert custom_below_standard == ["Grace Larsen"]
            assert reply_bytes > 15_000  # the data reduction is visible

            sales = _structured(await client.call_tool("get_team_members", {"department": "sales"}))
            assert not {p["id"] for p in sales} & {p["id"] for p in members}
            unknown = await client.call_tool("get_team_members", {"department": "legal"})
            assert unknown.is_error


def test_data_set_is_deterministic_and_sized() -> None:
    sys.path.insert(0, str(SERVER.parent))
    try:
        import expenses_server
    finally:
        sys.path.remove(str(SERVER.parent))
    first, second = expenses_server.build_company(), expenses_server.build_company()
    assert first == second
    assert sum(len(people) for people in first.members.values()) == 50
    assert len(first.members) == 5
    assert 500 <= first.expense_count <= 2500
    quarters = {q for (_, q) in first.expenses}
    assert quarters == {"Q1", "Q2", "Q3", "Q4"}
