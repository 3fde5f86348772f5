"""A demo HR MCP server: offices, managers and cost centers for the people of the expenses demo.

It is keyed by the same employee ids as `examples/expenses_server.py` (`E1001`…`E1050`, the same
seeded company), so questions can join the two servers, e.g.

    "What was engineering's total Q3 travel spend per office city?"

takes `expenses.get_team_members`, one `expenses.get_expenses` and one `hr.get_employee_record`
per engineer and one `hr.list_offices` call — a join a model would otherwise do in its context.

Run it over stdio::

    python examples/hr_server.py

or over streamable HTTP on 127.0.0.1::

    python examples/hr_server.py --http 8001      # endpoint http://127.0.0.1:8001/mcp
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field

sys.path.insert(0, str(Path(__file__).resolve().parent))
from expenses_server import Company, build_company, serve_from_command_line  # noqa: E402 - the sibling demo defines the people

HR_SEED = 4242


class Office(BaseModel):
    """One office of the company."""

    id: str = Field(description="Office id, e.g. 'OFF-BER'.")
    city: str
    country: str = Field(description="ISO 3166-1 alpha-2 country code.")
    timezone: str


class EmployeeRecord(BaseModel):
    """Where an employee sits and who they report to."""

    employee_id: str = Field(description="Same ids as the expenses server, e.g. 'E1003'.")
    office_id: str = Field(description="See list_offices.")
    manager_id: str | None = Field(description="Employee id of the manager; null for department heads.")
    cost_center: str = Field(description="Cost center code, e.g. 'CC-ENG-PLAT'.")
    start_date: str = Field(description="ISO date the employee joined.")


class CostCenter(BaseModel):
    """A budget owner."""

    code: str
    name: str
    owner_id: str = Field(description="Employee id of the cost center's owner.")


OFFICES: tuple[Office, ...] = (
    Office(id="OFF-BER", city="Berlin", country="DE", timezone="Europe/Berlin"),
    Office(id="OFF-LIS", city="Lisbon", country="PT", timezone="Europe/Lisbon"),
    Office(id="OFF-NYC", city="New York", country="US", timezone="America/New_York"),
    Office(id="OFF-SEA", city="Seattle", country="US", timezone="America/Los_Angeles"),
    Office(id="OFF-SIN", city="Singapore", country="SG", timezone="Asia/Singapore"),
)
_COST_CENTERS: dict[str, tuple[tuple[str, str], ...]] = {
    "engineering": (("CC-ENG-PLAT", "Platform engineering"), ("CC-ENG-PROD", "Product engineering")),
    "sales": (("CC-SAL-EMEA", "Sales EMEA"), ("CC-SAL-AMER", "Sales Americas")),
    "marketing": (("CC-MKT", "Marketing"),),
    "finance": (("CC-FIN", "Finance"),),
    "operations": (("CC-OPS", "Operations"),),
}


def build_records(company: Company, seed: int = HR_SEED) -> tuple[dict[str, EmployeeRecord], dict[str, CostCenter]]:
    """Deterministic HR records for every employee of `company`."""
    rng = random.Random(seed)
    records: dict[str, EmployeeRecord] = {}
    centers: dict[str, CostCenter] = {}
    for department, people in company.members.items():
        head = people[0]
        for code, name in _COST_CENTERS[department]:
            centers[code] = CostCenter(code=code, name=name, owner_id=head.id)
        for index, person in enumerate(people):
            code = _COST_CENTERS[department][index % len(_COST_CENTERS[department])][0]
            records[person.id] = EmployeeRecord(
                employee_id=person.id,
                office_id=rng.choice(OFFICES).id,
                manager_id=None if index == 0 else head.id,
                cost_center=code,
                start_date=f"{rng.randint(2016, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            )
    return records, centers


def create_server(company: Company | None = None) -> MCPServer:
    """The HR MCP server over the (seeded) company."""
    records, centers = build_records(company or build_company())
    offices = {office.id: office for office in OFFICES}
    server = MCPServer(
        name="hr",
        title="Demo HR",
        version="1.0.0",
        instructions="Offices, managers and cost centers; employee ids match the expenses server.",
    )
    read_only = ToolAnnotations(
        read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
    )

    @server.tool(annotations=read_only)
    def list_offices() -> list[Office]:
        """List the company's offices."""
        return list(OFFICES)

    @server.tool(annotations=read_only)
    def get_office(office_id: str) -> Office:
        """Look one office up by id."""
        office = offices.get(office_id)
        if office is None:
            raise ToolError(f"unknown office {office_id!r}; known: {', '.join(offices)}")
        return office

    @server.tool(annotations=read_only)
    def get_employee_record(employee_id: str) -> EmployeeRecord:
        """Return an employee's office, manager and cost center (ids as on the expenses server)."""
        record = records.get(employee_id)
        if record is None:
            raise ToolError(f"unknown employee id {employee_id!r}")
        return record

    @server.tool(annotations=read_only)
    def get_cost_center(code: str) -> CostCenter:
        """Return a cost center's name and owner."""
        center = centers.get(code)
        if center is None:
            raise ToolError(f"unknown cost center {code!r}")
        return center

    return server


def main() -> None:
    serve_from_command_line(create_server(), (__doc__ or "").splitlines()[0])


if __name__ == "__main__":
    main()
