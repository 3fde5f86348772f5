"""A demo expenses MCP server: deterministic synthetic data, no network, no account.

Run it over stdio (what MCP clients and the gateway spawn)::

    python examples/expenses_server.py

or over streamable HTTP on 127.0.0.1::

    python examples/expenses_server.py --http 8000      # endpoint http://127.0.0.1:8000/mcp

The company has five departments, fifty people and about 1,750 expense line items over the
four quarters of fiscal year 2026. The seed question of the README,

    "Which engineering team members exceeded their Q3 travel budget?"

takes one `get_team_members` call, one `get_expenses` call per person and one
`get_custom_budget` call per person: thirty-three tool calls and some 40 KB of JSON (text plus
structured content) that a model would otherwise read through its context, reduced in the sandbox
to four names.

Budget rules (also in the tool descriptions, so a model can follow them):

- every employee has a travel budget of `STANDARD_TRAVEL_BUDGET_USD` per quarter, unless
  `get_custom_budget` returns an exception for them, which replaces the standard budget (it may be
  higher *or* lower);
- travel spend is the sum of `amount` over line items with `category == "travel"` whose `status`
  is not `"rejected"` (rejected items were never reimbursed).

The data is generated from a fixed seed at import time, identically on every machine.
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field

SEED = 20260728
FISCAL_YEAR = 2026
STANDARD_TRAVEL_BUDGET_USD = 5000.00
"""The travel budget of every employee per quarter, unless they have a custom budget."""

Quarter = Literal["Q1", "Q2", "Q3", "Q4"]
QUARTERS: tuple[Quarter, ...] = ("Q1", "Q2", "Q3", "Q4")
Status = Literal["approved", "pending", "rejected"]
Category = Literal["travel", "meals", "software", "equipment", "training", "office"]

DEPARTMENTS: dict[str, int] = {"engineering": 16, "sales": 12, "marketing": 9, "finance": 6, "operations": 7}
"""Department -> head count (50 people in all)."""

_ROLES: dict[str, tuple[str, ...]] = {
    "engineering": ("Software Engineer", "Senior Software Engineer", "Staff Engineer", "SRE", "Engineering Manager"),
    "sales": ("Account Executive", "Sales Engineer", "Sales Manager", "SDR"),
    "marketing": ("Marketing Manager", "Content Strategist", "Product Marketing Manager", "Designer"),
    "finance": ("Accountant", "Financial Analyst", "Controller"),
    "operations": ("Operations Analyst", "Office Manager", "IT Administrator", "Recruiter"),
}
_FIRST = (
    "Alice Bruno Chen Dana Elif Farid Grace Hugo Ines Jonas Kira Liam Maya Noor Omar Priya Quinn Rosa Sami Tara "
    "Umar Vera Wen Xavier Yara Zoe Anton Bea Carlos Dmitri Emma Felix Gita Hana Ivan Julia Kofi Lena Mateo Nina "
    "Oscar Paula Rafael Sofia Tomas Uma Victor Wanda Yusuf Zara"
).split()
_LAST = (
    "Adams Baker Costa Diaz Evans Fischer Garcia Haddad Ito Jensen Kowalski Larsen Moreau Novak Okafor Patel "
    "Quintero Rossi Schmidt Tanaka Ueda Varga Weber Xu Yilmaz Zimmermann"
).split()


class Employee(BaseModel):
    """One member of a department."""

    id: str = Field(description="Employee id, e.g. 'E1003'; also the user_id of get_custom_budget.")
    name: str
    role: str
    level: int = Field(description="Career level, 1 (entry) to 6 (principal).")


class ExpenseItem(BaseModel):
    """One expense line item."""

    id: str
    date: str = Field(description="ISO date, e.g. '2026-08-14'.")
    amount: float = Field(description="US dollars.")
    category: Category
    description: str
    status: Status = Field(description="'rejected' items were not reimbursed and do not count toward budgets.")


class CustomBudget(BaseModel):
    """A per-employee exception to the standard quarterly travel budget."""

    user_id: str
    travel_budget: float = Field(description="Quarterly travel budget in US dollars; replaces the standard one.")
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Company:
    """The whole synthetic data set."""

    members: dict[str, tuple[Employee, ...]]
    expenses: dict[tuple[str, Quarter], tuple[ExpenseItem, ...]]
    custom_budgets: dict[str, CustomBudget]

    @property
    def expense_count(self) -> int:
        return sum(len(items) for items in self.expenses.values())


# Engineering Q3 travel totals fixed by the scenario (index in the engineering roster -> (total, custom budget)).
# Everyone else's Q3 engineering travel stays at or below $4,300, so the answer is exactly:
#   over the standard budget: #3, #9;   over a custom budget above standard: #12;
#   over a custom budget *below* standard: #6;
#   NOT over: #1 (spent $7,120.40, above standard, but has an $8,000 custom budget).
_ENGINEERING_Q3: dict[int, tuple[float, float | None]] = {
    1: (7120.40, 8000.00),
    3: (6245.80, None),
    6: (3190.25, 2500.00),
    9: (5388.15, None),
    12: (6870.60, 6000.00),
}
_CUSTOM_REASONS = {
    8000.00: "Conference speaker programme: approved travel exception for FY2026",
    6000.00: "Customer-site rotation: raised travel budget",
    2500.00: "Onboarding period: reduced travel budget",
    12000.00: "Field sales territory: raised travel budget",
    9000.00: "Regional events lead: raised travel budget",
}

_TRAVEL_ITEMS = (
    ("Flight to {city}", 0.45),
    ("Hotel in {city}", 0.35),
    ("Train and taxis in {city}", 0.08),
    ("Per-diem meals in {city}", 0.12),
)
_CITIES = ("Berlin", "Boston", "Chicago", "Lisbon", "London", "Paris", "Seattle", "Singapore", "Tokyo", "Toronto")
_OTHER: dict[Category, tuple[tuple[str, ...], float, float]] = {
    "meals": (("Team lunch", "Client dinner", "Offsite catering", "Working breakfast"), 18.0, 420.0),
    "software": (("IDE licence", "Cloud credits", "Design tool seat", "Analytics subscription"), 12.0, 900.0),
    "equipment": (("Monitor", "Keyboard and mouse", "Laptop dock", "Headset"), 35.0, 1400.0),
    "training": (("Online course", "Conference ticket", "Certification exam", "Workshop"), 60.0, 1800.0),
    "office": (("Stationery", "Printer toner", "Desk lamp", "Whiteboard markers"), 5.0, 160.0),
}


def _quarter_dates(quarter: Quarter) -> tuple[date, int]:
    start = date(FISCAL_YEAR, 3 * QUARTERS.index(quarter) + 1, 1)
    end = date(FISCAL_YEAR + 1, 1, 1) if quarter == "Q4" else date(FISCAL_YEAR, 3 * QUARTERS.index(quarter) + 4, 1)
    return start, (end - start).days


def _split(total: float, weights: list[float]) -> list[float]:
    """Split `total` into cents that add up exactly."""
    cents = round(total * 100)
    parts = [int(cents * w / sum(weights)) for w in weights]
    parts[0] += cents - sum(parts)
    return [p / 100 for p in parts]


def build_company(seed: int = SEED) -> Company:
    """Generate the data set; the same seed always gives the same company."""
    rng = random.Random(seed)
    names = [f"{first} {last}" for first, last in zip(_FIRST, rng.sample(_LAST * 2, len(_FIRST)), strict=True)]
    members: dict[str, tuple[Employee, ...]] = {}
    next_id = 1001
    for department, size in DEPARTMENTS.items():
        roster: list[Employee] = []
        for _ in range(size):
            role = rng.choice(_ROLES[department])
            roster.append(Employee(id=f"E{next_id}", name=names.pop(0), role=role, level=rng.randint(1, 6)))
            next_id += 1
        members[department] = tuple(roster)

    custom: dict[str, CustomBudget] = {}
    engineering = members["engineering"]
    for index, (_, budget) in _ENGINEERING_Q3.items():
        if budget is not None:
            user_id = engineering[index].id
            custom[user_id] = CustomBudget(user_id=user_id, travel_budget=budget, reason=_CUSTOM_REASONS[budget])
    for person, budget in (
        (members["sales"][0], 12000.00),
        (members["sales"][4], 12000.00),
        (members["marketing"][2], 9000.00),
    ):
        custom[person.id] = CustomBudget(user_id=person.id, travel_budget=budget, reason=_CUSTOM_REASONS[budget])

    expenses: dict[tuple[str, Quarter], tuple[ExpenseItem, ...]] = {}
    counter = 0
    for department, people in members.items():
        for index, person in enumerate(people):
            for quarter in QUARTERS:
                start, days = _quarter_dates(quarter)
                scenario = department == "engineering" and quarter == "Q3"
                items: list[tuple[date, float, Category, str, Status]] = []

                if scenario and index in _ENGINEERING_Q3:
                    travel_total = _ENGINEERING_Q3[index][0]
                elif scenario:
                    travel_total = round(rng.uniform(0.0, 4300.0), 2) if rng.random() < 0.8 else 0.0
                else:
                    travel_total = round(rng.uniform(0.0, 7500.0), 2) if rng.random() < 0.7 else 0.0
                trips = 0 if travel_total == 0 else (1 if travel_total < 1800 else rng.randint(2, 3))
                for trip_total in _split(travel_total, [rng.uniform(0.5, 1.5) for _ in range(trips)]) if trips else []:
                    city = rng.choice(_CITIES)
                    day = start + timedelta(days=rng.randrange(days - 5))
                    amounts = _split(trip_total, [w for _, w in _TRAVEL_ITEMS])
                    for offset, ((text, _), amount) in enumerate(zip(_TRAVEL_ITEMS, amounts, strict=True)):
                        # The seed question's answer must not hinge on rejected items: none in engineering Q3.
                        status: Status = "pending" if rng.random() < 0.12 else "approved"
                        items.append((day + timedelta(days=offset), amount, "travel", text.format(city=city), status))
                if not scenario and rng.random() < 0.15:
                    city = rng.choice(_CITIES)
                    day = start + timedelta(days=rng.randrange(days))
                    amount = round(rng.uniform(150.0, 2400.0), 2)
                    items.append((day, amount, "travel", f"Unapproved upgrade, {city} trip", "rejected"))

                for _ in range(rng.randint(1, 4)):
                    category: Category = rng.choice(list(_OTHER))
                    texts, low, high = _OTHER[category]
                    day = start + timedelta(days=rng.randrange(days))
                    status = rng.choices(("approved", "pending", "rejected"), weights=(85, 10, 5))[0]
                    items.append((day, round(rng.uniform(low, high), 2), category, rng.choice(texts), status))

                items.sort(key=lambda item: (item[0], item[2], item[3]))
                records: list[ExpenseItem] = []
                for day, amount, category, text, status in items:
                    counter += 1
                    records.append(
                        ExpenseItem(
                            id=f"X{counter:05d}",
                            date=day.isoformat(),
                            amount=amount,
                            category=category,
                            description=text,
                            status=status,
                        )
                    )
                expenses[(person.id, quarter)] = tuple(records)
    return Company(members=members, expenses=expenses, custom_budgets=custom)


def create_server(company: Company | None = None) -> MCPServer:
    """The MCP server over `company` (the seeded data set by default)."""
    data = company or build_company()
    known_ids = {person.id for people in data.members.values() for person in people}
    server = MCPServer(
        name="expenses",
        title="Demo expenses",
        version="1.0.0",
        instructions=(
            f"Synthetic company expenses for fiscal year {FISCAL_YEAR}. The standard travel budget is "
            f"${STANDARD_TRAVEL_BUDGET_USD:,.2f} per employee per quarter unless get_custom_budget returns "
            "an exception."
        ),
    )
    read_only = ToolAnnotations(
        read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
    )

    @server.tool(annotations=read_only)
    def list_departments() -> list[str]:
        """List the company's departments."""
        return list(data.members)

    @server.tool(annotations=read_only)
    def get_team_members(department: str) -> list[Employee]:
        """List the members of a department (engineering, sales, marketing, finance, operations)."""
        people = data.members.get(department.strip().lower())
        if people is None:
            raise ToolError(f"unknown department {department!r}; known: {', '.join(data.members)}")
        return list(people)

    @server.tool(annotations=read_only)
    def get_expenses(employee_id: str, quarter: Quarter) -> list[ExpenseItem]:
        """List an employee's expense line items for one quarter of fiscal year 2026.

        Travel spend is the sum of `amount` over items with category "travel" whose status is not
        "rejected" (rejected items were never reimbursed).
        """
        if employee_id not in known_ids:
            raise ToolError(f"unknown employee id {employee_id!r}")
        return list(data.expenses[(employee_id, quarter)])

    @server.tool(annotations=read_only)
    def get_custom_budget(user_id: str) -> CustomBudget | None:
        """Return the employee's custom quarterly travel budget, or null when they have none.

        Without an exception the standard travel budget applies: $5,000.00 per quarter. A custom
        budget replaces the standard one and may be higher or lower.
        """
        if user_id not in known_ids:
            raise ToolError(f"unknown user id {user_id!r}")
        return data.custom_budgets.get(user_id)

    return server


def serve_from_command_line(server: MCPServer, description: str) -> None:
    """Serve over stdio, or streamable HTTP with `--http PORT` (shared with the sibling demo)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--http", type=int, metavar="PORT", help="serve streamable HTTP on 127.0.0.1:PORT/mcp")
    args = parser.parse_args()
    if args.http is None:
        server.run()
    else:
        server.run("streamable-http", host="127.0.0.1", port=args.http)


def main() -> None:
    serve_from_command_line(create_server(), (__doc__ or "").splitlines()[0])


if __name__ == "__main__":
    main()
