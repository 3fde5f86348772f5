"""The demo data, computed directly from the example modules (not through any server)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

PARALLEL_CODE = """
import asyncio, json
members, offices = await asyncio.gather(
    expenses.get_team_members(department="engineering"),
    hr.list_offices(),
)
first = members["result"][0]["id"]
record, budget = await asyncio.gather(
    hr.get_employee_record(employee_id=first), expenses.get_custom_budget(user_id="E1002")
)
print(json.dumps({
    "members": [m["id"] for m in members["result"]],
    "offices": sorted(o["id"] for o in offices["result"]),
    "office": record["office_id"],
    "budget": budget["result"]["travel_budget"],
}))
"""


def expected_parallel() -> dict[str, Any]:
    sys.path.insert(0, str(EXAMPLES))
    try:
        expenses_server: Any = importlib.import_module("expenses_server")
        hr_server: Any = importlib.import_module("hr_server")
    finally:
        sys.path.remove(str(EXAMPLES))
    company = expenses_server.build_company()
    records, _ = hr_server.build_records(company)
    members: list[str] = [person.id for person in company.members["engineering"]]
    return {
        "members": members,
        "offices": sorted(office.id for office in hr_server.OFFICES),
        "office": records[members[0]].office_id,
        "budget": company.custom_budgets["E1002"].travel_budget,
    }
