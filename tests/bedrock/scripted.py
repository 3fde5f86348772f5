"""Scripted models for the local Bedrock endpoint: they read the stubs they are shown and write code.

A PTC model finds each tool's namespace and return type in the system prompt (the rendered stubs),
writes one program for the scenario, and turns the program's printed output into the answer. A
classic model calls the offered tools one per turn, working out the next call from the results it
has seen, and computes the same answer itself. Both share the scenario's answer function, so their
answers agree exactly when they saw the same data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.bedrock.endpoint import Reply, ToolCall, Turn

__all__ = [
    "SCENARIOS",
    "Scenario",
    "Stubs",
    "classic_model",
    "extract_fenced",
    "ptc_model",
]

_NAMESPACE = re.compile(r"^class (\w+):\n    \"\"\"Tools of the MCP server", re.MULTILINE)
_TOOL = re.compile(r"^    async def (\w+)\((.*?)\) -> ([\w\[\], |]+):", re.MULTILINE)
_TYPED_DICT = re.compile(r"^class (\w+)\(TypedDict\):\n(?:    \"\"\".*?\"\"\"\n)?((?:    \w+: .*\n)+)", re.MULTILINE)
_FENCE = re.compile(r"```python\n(.*?)```", re.DOTALL)


def extract_fenced(text: str) -> str | None:
    match = _FENCE.search(text)
    return match[1] if match else None


@dataclass
class Stubs:
    """What the model learnt from the system prompt."""

    namespace: dict[str, str] = field(default_factory=dict[str, str])
    """tool name -> namespace global."""
    wrapped: dict[str, bool] = field(default_factory=dict[str, bool])
    """tool name -> whether the return type is a `{"result": ...}` wrapper."""
    standard_budget: float | None = None

    @classmethod
    def read(cls, system: str) -> Stubs:
        stubs = cls()
        typed: dict[str, list[str]] = {
            m[1]: [line.strip().split(":")[0] for line in m[2].splitlines()] for m in _TYPED_DICT.finditer(system)
        }
        namespaces = [(m.start(), m[1]) for m in _NAMESPACE.finditer(system)]
        for tool in _TOOL.finditer(system):
            owner = [name for start, name in namespaces if start < tool.start()][-1]
            stubs.namespace[tool[1]] = owner
            stubs.wrapped[tool[1]] = typed.get(tool[3].strip()) == ["result"]
        if budget := re.search(r"\$([\d,]+\.\d\d) per quarter", system):
            stubs.standard_budget = float(budget[1].replace(",", ""))
        return stubs

    def call(self, tool: str, *, unwrap: bool = True, **kwargs: Any) -> str:
        """The expression calling `tool` as the stubs say (unwrapping `{"result": ...}` when told)."""
        args = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        expr = f"await {self.namespace[tool]}.{tool}({args})"
        return f'({expr})["result"]' if unwrap and self.wrapped[tool] else expr


@dataclass
class Scenario:
    """A question, the program a PTC model writes for it, and the calls a classic model makes."""

    question: str
    program: Callable[[Stubs, bool], str]
    """(stubs, buggy) -> the program; `buggy` forgets to unwrap `{"result": ...}` results."""
    answer_from_output: Callable[[str], str]
    next_calls: Callable[[dict[tuple[str, str], Any]], list[tuple[str, dict[str, Any]]] | str]
    """Classic: from {(tool, json args): result} seen so far, the calls that can be made next, or the answer."""


def _args(**kwargs: Any) -> str:
    return json.dumps(kwargs, sort_keys=True)


def _unwrap(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"result"}:
        return value["result"]
    return value


# --- travel budget ----------------------------------------------------------------------------------


def _travel_answer(rows: list[tuple[str, float, float]]) -> str:
    over = sorted(name for name, spent, budget in rows if spent > budget)
    return "Over their Q3 travel budget: " + ", ".join(over) + "."


def _travel_program(stubs: Stubs, buggy: bool) -> str:
    members = stubs.call("get_team_members", unwrap=not buggy, department='"engineering"')
    expenses = stubs.call("get_expenses", employee_id='p["id"]', quarter='"Q3"')
    budget = stubs.call("get_custom_budget", user_id='p["id"]')
    return f"""\
STANDARD = {stubs.standard_budget!r}
members = {members}
print(f"{{len(members)}} members, first: {{members[0]['name']}}")

async def check(p):
    items = {expenses}
    custom = {budget}
    spent = sum(i["amount"] for i in items if i["category"] == "travel" and i["status"] != "rejected")
    limit = custom["travel_budget"] if custom else STANDARD
    return p["name"], spent, limit

rows = await asyncio.gather(*(check(p) for p in members))
for name, spent, limit in sorted(rows):
    if spent > limit:
        print(f"OVER|{{name}}|{{spent:.2f}}|{{limit:.2f}}")
"""


def _rows_from_output(output: str) -> list[tuple[str, float, float]]:
    rows = []
    for line in output.splitlines():
        if line.startswith("OVER|"):
            _, name, spent, limit = line.split("|")
            rows.append((name, float(spent), float(limit)))
    return rows


Calls = list[tuple[str, dict[str, Any]]]


def _unseen(calls: Calls, seen: dict[tuple[str, str], Any]) -> Calls:
    return [(tool, args) for tool, args in calls if (tool, _args(**args)) not in seen]


def _travel_next(seen: dict[tuple[str, str], Any]) -> Calls | str:
    members_key = ("get_team_members", _args(department="engineering"))
    if members_key not in seen:
        return [("get_team_members", {"department": "engineering"})]
    members = _unwrap(seen[members_key])
    pending = [
        *(("get_expenses", {"employee_id": p["id"], "quarter": "Q3"}) for p in members),
        *(("get_custom_budget", {"user_id": p["id"]}) for p in members),
    ]
    if calls := _unseen(pending, seen):
        return calls
    rows = []
    for person in members:
        items = _unwrap(seen[("get_expenses", _args(employee_id=person["id"], quarter="Q3"))])
        custom = _unwrap(seen[("get_custom_budget", _args(user_id=person["id"]))])
        spent = sum(i["amount"] for i in items if i["category"] == "travel" and i["status"] != "rejected")
        rows.append((person["name"], spent, custom["travel_budget"] if custom else 5000.0))
    return _travel_answer(rows)


TRAVEL = Scenario(
    question="Which engineering team members exceeded their Q3 travel budget?",
    program=_travel_program,
    answer_from_output=lambda output: _travel_answer(_rows_from_output(output)),
    next_calls=_travel_next,
)


# --- join across expenses + hr ----------------------------------------------------------------------


def _join_answer(per_city: dict[str, float]) -> str:
    parts = [f"{city} ${total:,.2f}" for city, total in sorted(per_city.items())]
    return "Engineering Q3 travel spend by office: " + "; ".join(parts) + "."


def _join_program(stubs: Stubs, buggy: bool) -> str:
    members = stubs.call("get_team_members", unwrap=not buggy, department='"engineering"')
    expenses = stubs.call("get_expenses", employee_id='p["id"]', quarter='"Q3"')
    record = stubs.call("get_employee_record", employee_id='p["id"]')
    offices = stubs.call("list_offices")
    return f"""\
members = {members}
offices = {{o["id"]: o["city"] for o in {offices}}}

async def travel_and_office(p):
    items = {expenses}
    rec = {record}
    spent = sum(i["amount"] for i in items if i["category"] == "travel" and i["status"] != "rejected")
    return offices[rec["office_id"]], spent

totals = {{}}
for city, spent in await asyncio.gather(*(travel_and_office(p) for p in members)):
    totals[city] = totals.get(city, 0.0) + spent
for city in sorted(totals):
    print(f"CITY|{{city}}|{{totals[city]:.2f}}")
"""


def _join_from_output(output: str) -> str:
    per_city = {}
    for line in output.splitlines():
        if line.startswith("CITY|"):
            _, city, total = line.split("|")
            per_city[city] = float(total)
    return _join_answer(per_city)


def _join_next(seen: dict[tuple[str, str], Any]) -> Calls | str:
    members_key = ("get_team_members", _args(department="engineering"))
    if members_key not in seen:
        return [("get_team_members", {"department": "engineering"})]
    members = _unwrap(seen[members_key])
    pending = [
        *(("get_expenses", {"employee_id": p["id"], "quarter": "Q3"}) for p in members),
        *(("get_employee_record", {"employee_id": p["id"]}) for p in members),
        ("list_offices", {}),
    ]
    if calls := _unseen(pending, seen):
        return calls
    cities = {o["id"]: o["city"] for o in _unwrap(seen[("list_offices", _args())])}
    per_city: dict[str, float] = {}
    for person in members:
        items = _unwrap(seen[("get_expenses", _args(employee_id=person["id"], quarter="Q3"))])
        record = _unwrap(seen[("get_employee_record", _args(employee_id=person["id"]))])
        spent = sum(i["amount"] for i in items if i["category"] == "travel" and i["status"] != "rejected")
        city = cities[record["office_id"]]
        per_city[city] = per_city.get(city, 0.0) + spent
    # Same rounding as the program's output.
    return _join_answer({city: round(total, 2) for city, total in per_city.items()})


JOIN = Scenario(
    question="What was engineering's total Q3 travel spend per office city?",
    program=_join_program,
    answer_from_output=_join_from_output,
    next_calls=_join_next,
)


# --- one call: where PTC should not win ----------------------------------------------------------------


def _departments_answer(departments: list[str]) -> str:
    return "The departments are: " + ", ".join(sorted(departments)) + "."


ONE_CALL = Scenario(
    question="Which departments does the company have?",
    program=lambda stubs, buggy: f"print('|'.join({stubs.call('list_departments')}))\n",
    answer_from_output=lambda output: _departments_answer(output.strip().split("|")),
    next_calls=lambda seen: (
        _departments_answer(_unwrap(seen[("list_departments", _args())]))
        if ("list_departments", _args()) in seen
        else [("list_departments", {})]
    ),
)

SCENARIOS: dict[str, Scenario] = {"travel": TRAVEL, "join": JOIN, "one_call": ONE_CALL}


# --- the models ---------------------------------------------------------------------------------------


def ptc_model(scenario: Scenario, *, fenced: bool = False, buggy_first: bool = False) -> Callable[[Turn], Reply]:
    """A model that writes the scenario's program from the stubs, then answers from its output.

    `fenced`: no tool use, code in a ```python block, output read from the next user message.
    `buggy_first`: the first program forgets to unwrap a `{"result": ...}` return value; the model
    reads the traceback and sends the fixed program.
    """

    def model(turn: Turn) -> Reply:
        stubs = Stubs.read(turn.system)
        if turn.index == 0:
            return _code_reply(scenario.program(stubs, buggy_first), fenced=fenced)
        output, failed = _last_output(turn, fenced=fenced)
        if failed:
            # Read the traceback: a KeyError on an index means the result was a {"result": ...} wrapper.
            return _code_reply(scenario.program(stubs, False), fenced=fenced, text="That failed; fixing the code.")
        return Reply(text=scenario.answer_from_output(output))

    return model


def _code_reply(code: str, *, fenced: bool, text: str = "I'll compute this in code.") -> Reply:
    if fenced:
        return Reply(text=f"{text}\n\n```python\n{code}```\n")
    return Reply(text=text, tool_calls=[ToolCall(name="execute_code", input={"code": code})])


def _last_output(turn: Turn, *, fenced: bool) -> tuple[str, bool]:
    if fenced:
        text = turn.last_text().removeprefix("Output of your program:\n")
        text = text.split("\n\nAnswer the question now", 1)[0]
        return text, "[error" in text
    result = turn.tool_results()[0]
    return result["text"], bool(result["is_error"])


def classic_model(scenario: Scenario, *, parallel: bool = False) -> Callable[[Turn], Reply]:
    """A model that calls the offered tools one per turn and computes the answer itself.

    `parallel`: every call that can be made next goes out in the same turn (several toolUse
    blocks), as strong tool-use models do; fewer turns, the same tool output in the context.
    """

    def model(turn: Turn) -> Reply:
        by_suffix = {}
        for tool in turn.tools:
            # Classic names are `server__tool`; the model only cares about the tool part.
            by_suffix[tool["name"].split("__", 1)[-1]] = tool["name"]
        names = {name: suffix for suffix, name in by_suffix.items()}
        seen: dict[tuple[str, str], Any] = {}
        uses: dict[str, tuple[str, str]] = {}
        for message in turn.messages:
            for block in message["content"]:
                if block["type"] == "tool_use":
                    uses[block["id"]] = (names[block["name"]], _args(**block["input"]))
                elif block["type"] == "tool_result" and not block["is_error"]:
                    seen[uses[block["tool_use_id"]]] = json.loads(block["text"])
        step = scenario.next_calls(seen)
        if isinstance(step, str):
            return Reply(text=step)
        calls = step if parallel else step[:1]
        return Reply(tool_calls=[ToolCall(name=by_suffix[tool], input=arguments) for tool, arguments in calls])

    return model
