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
from typing import Any, cast

from tests.bedrock.endpoint import Reply, ToolCall, Turn

__all__ = [
    "SCENARIOS",
    "Scenario",
    "StubMismatchError",
    "Stubs",
    "classic_model",
    "extract_fenced",
    "ptc_model",
]

# A server's namespace is a plain class (records are `class X(TypedDict):`), whatever its docstring says.
_NAMESPACE = re.compile(r"^class (\w+):$", re.MULTILINE)
# Parameters may wrap over several lines when a signature is long.
_TOOL = re.compile(r"^    async def (\w+)\((.*?)\) -> ([^\n]+?):$", re.MULTILINE | re.DOTALL)
_TYPED_DICT = re.compile(r"^class (\w+)\(TypedDict\):\n(?:    \"\"\".*?\"\"\"\n)?((?:    \w+: .*\n)+)", re.MULTILINE)
_FENCE = re.compile(r"```python\n(.*?)```", re.DOTALL)


def extract_fenced(text: str) -> str | None:
    match = _FENCE.search(text)
    return match[1] if match else None


class StubMismatchError(AssertionError):
    """The scripted model wanted a tool, parameter, value or field the system prompt does not show."""


def _split_params(params: str) -> list[str]:
    """`a: str, b: Literal["x", "y"] = "x"` -> the two parameters (commas inside brackets kept)."""
    parts: list[str] = []
    depth, start = 0, 0
    for i, char in enumerate(params):
        if char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(params[start:i].strip())
            start = i + 1
    parts.append(params[start:].strip())
    return [p for p in parts if p and p not in ("*", "/")]


@dataclass
class Signature:
    """One tool as its stub shows it."""

    namespace: str
    params: dict[str, str]
    """parameter -> annotation text."""
    required: set[str]
    returns: str


@dataclass
class Stubs:
    """What the model learnt from the system prompt: every call it writes is checked against it."""

    tools: dict[str, Signature] = field(default_factory=dict[str, Signature])
    records: dict[str, dict[str, str]] = field(default_factory=dict[str, dict[str, str]])
    """TypedDict name -> {field: annotation}."""
    standard_budget: float | None = None

    @classmethod
    def read(cls, system: str) -> Stubs:
        stubs = cls()
        for record in _TYPED_DICT.finditer(system):
            lines = (line.strip().split("  #")[0].partition(":") for line in record[2].splitlines())
            stubs.records[record[1]] = {name.strip(): annotation.strip() for name, _, annotation in lines}
        namespaces = [(m.start(), m[1]) for m in _NAMESPACE.finditer(system)]
        for tool in _TOOL.finditer(system):
            owners = [name for start, name in namespaces if start < tool.start()]
            if not owners:
                continue
            params: dict[str, str] = {}
            required: set[str] = set()
            for param in _split_params(tool[2]):
                name, _, rest = param.partition(":")
                annotation, has_default, _ = rest.partition("=")
                params[name.strip()] = annotation.strip()
                if not has_default:
                    required.add(name.strip())
            stubs.tools[tool[1]] = Signature(
                namespace=owners[-1], params=params, required=required, returns=tool[3].strip()
            )
        if budget := re.search(r"standard (?:quarterly )?travel budget[^$]*\$([\d,]+\.\d\d)", system):
            stubs.standard_budget = float(budget[1].replace(",", ""))
        return stubs

    def signature(self, tool: str) -> Signature:
        if tool not in self.tools:
            raise StubMismatchError(f"the system prompt shows no tool {tool!r} (it shows {sorted(self.tools)})")
        return self.tools[tool]

    def wrapped(self, tool: str) -> bool:
        """Whether the tool returns a `{"result": ...}` wrapper."""
        return list(self.records.get(self.signature(tool).returns, {})) == ["result"]

    def fields(self, tool: str) -> list[str]:
        """The fields of the record a tool returns (inside the wrapper, the list and `| None`)."""
        returns = self.signature(tool).returns
        if self.wrapped(tool):
            returns = self.records[returns]["result"]
        for part in re.split(r"[\[\]| ]+", returns):
            if part in self.records:
                return list(self.records[part])
        raise StubMismatchError(f"{tool} returns {returns!r}: no record type the prompt describes")

    def need(self, tool: str, *names: str) -> None:
        """Check the record `tool` returns has these fields, as the program is about to use them."""
        missing = [n for n in names if n not in self.fields(tool)]
        if missing:
            raise StubMismatchError(f"{tool} returns no field {missing} (fields: {self.fields(tool)})")

    def call(self, tool: str, *, unwrap: bool = True, **kwargs: str) -> str:
        """The expression calling `tool` as its stub says; `kwargs` are Python expressions.

        Unknown or missing parameters and string values outside a `Literal[...]` are refused, so a
        program only ever calls what the prompt shows, the way the prompt shows it.
        """
        signature = self.signature(tool)
        if unknown := set(kwargs) - set(signature.params):
            raise StubMismatchError(f"{tool} has no parameter {sorted(unknown)} (stub: {signature.params})")
        if missing := signature.required - set(kwargs):
            raise StubMismatchError(f"{tool} needs {sorted(missing)} (stub: {signature.params})")
        for name, value in kwargs.items():
            choices = re.findall(r'"([^"]*)"', signature.params[name]) if "Literal[" in signature.params[name] else []
            if choices and value.startswith('"') and json.loads(value) not in choices:
                raise StubMismatchError(f"{tool}({name}={value}): the stub allows {choices}")
        args = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        expr = f"await {signature.namespace}.{tool}({args})"
        return f'({expr})["result"]' if unwrap and self.wrapped(tool) else expr


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
    if not isinstance(value, dict):
        return value
    wrapper = cast(dict[str, Any], value)
    return wrapper["result"] if set(wrapper) == {"result"} else wrapper


# --- travel budget ----------------------------------------------------------------------------------


def _travel_answer(rows: list[tuple[str, float, float]]) -> str:
    over = sorted(name for name, spent, budget in rows if spent > budget)
    return "Over their Q3 travel budget: " + ", ".join(over) + "."


def _travel_program(stubs: Stubs, buggy: bool) -> str:
    stubs.need("get_team_members", "id", "name")
    stubs.need("get_expenses", "amount", "category", "status")
    stubs.need("get_custom_budget", "travel_budget")
    if stubs.standard_budget is None:
        raise StubMismatchError("the prompt does not say what the standard travel budget is")
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
    rows: list[tuple[str, float, float]] = []
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
    pending: Calls = [
        *(("get_expenses", {"employee_id": p["id"], "quarter": "Q3"}) for p in members),
        *(("get_custom_budget", {"user_id": p["id"]}) for p in members),
    ]
    if calls := _unseen(pending, seen):
        return calls
    rows: list[tuple[str, float, float]] = []
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
    stubs.need("get_team_members", "id")
    stubs.need("get_expenses", "amount", "category", "status")
    stubs.need("get_employee_record", "office_id")
    stubs.need("list_offices", "id", "city")
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
    per_city: dict[str, float] = {}
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
    pending: Calls = [
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


def _check_schema(tool: str, arguments: dict[str, Any], schema: dict[str, Any]) -> None:
    """The call fits the offered input schema: known properties, required ones present, enums kept."""
    properties: dict[str, Any] = schema.get("properties", {})
    if unknown := set(arguments) - set(properties):
        raise StubMismatchError(f"{tool} offers no parameter {sorted(unknown)} (schema: {sorted(properties)})")
    if missing := set(schema.get("required", [])) - set(arguments):
        raise StubMismatchError(f"{tool} needs {sorted(missing)}")
    for name, value in arguments.items():
        if "enum" in properties[name] and value not in properties[name]["enum"]:
            raise StubMismatchError(f"{tool}({name}={value!r}): the schema allows {properties[name]['enum']}")


def classic_model(scenario: Scenario, *, parallel: bool = False) -> Callable[[Turn], Reply]:
    """A model that calls the offered tools one per turn and computes the answer itself.

    `parallel`: every call that can be made next goes out in the same turn (several toolUse
    blocks), as strong tool-use models do; fewer turns, the same tool output in the context.
    """

    def model(turn: Turn) -> Reply:
        by_suffix: dict[str, str] = {}
        schemas = {tool["name"]: tool["input_schema"] for tool in turn.tools}
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
        for tool, arguments in calls:
            if tool not in by_suffix:
                raise StubMismatchError(f"no offered tool ends in {tool!r} (offered: {sorted(names)})")
            _check_schema(tool, arguments, schemas[by_suffix[tool]])
        return Reply(tool_calls=[ToolCall(name=by_suffix[tool], input=arguments) for tool, arguments in calls])

    return model
