"""The README demo: programmatic tool calling against the demo expenses MCP server.

Answers "Which engineering team members exceeded their Q3 travel budget?" the PTC way: one block of
async Python, the code a model writes after reading the stubs, runs in the Docker sandbox; its tool
calls travel over the container's stdio to the expenses server; only the printed answer comes back.

Run it with `scripts/demo` (which installs everything first), or after set-up:

    .venv/bin/python examples/demo.py [--config FILE] [--backend docker|local-process] [--show-prompt]

No model and no cloud account are involved: the code below stands in for what the model writes.
`ptc-gateway ask` runs the same loop with a real Bedrock model.
"""

from __future__ import annotations

import argparse
import sys
import time

import anyio

from gateway.app import open_gateway
from gateway.config import load_settings
from gateway.executor import ExecutionHooks
from gateway.tools import ToolRef

QUESTION = "Which engineering team members exceeded their Q3 travel budget?"

# What a model writes after reading the stubs: 1 + 2 × 16 tool calls, all but the first concurrent.
MODEL_CODE = """\
STANDARD_BUDGET = 5000.00  # per quarter, from get_custom_budget's description

members = (await expenses.get_team_members(department="engineering"))["result"]
expense_lists, custom_budgets = await asyncio.gather(
    asyncio.gather(*(expenses.get_expenses(employee_id=m["id"], quarter="Q3") for m in members)),
    asyncio.gather(*(expenses.get_custom_budget(user_id=m["id"]) for m in members)),
)

over = []
for member, items, custom in zip(members, expense_lists, custom_budgets):
    travel = sum(i["amount"] for i in items["result"] if i["category"] == "travel" and i["status"] != "rejected")
    budget = custom["result"]["travel_budget"] if custom["result"] else STANDARD_BUDGET
    if travel > budget:
        over.append((travel - budget, member["name"], member["role"], travel, budget))

print(f"{len(over)} of {len(members)} engineering team members exceeded their Q3 travel budget:")
for excess, name, role, travel, budget in sorted(over, reverse=True):
    print(f"- {name} ({role}): ${travel:,.2f} spent of ${budget:,.2f} (+${excess:,.2f})")
"""


async def main(args: argparse.Namespace) -> int:
    settings = load_settings(config_file=args.config)
    if args.backend:
        settings.sandbox.backend = args.backend
    print(f"Question: {QUESTION}\n", flush=True)
    async with open_gateway(settings) as gateway:
        print("Connecting to the MCP fleet and starting the sandbox pool...", file=sys.stderr, flush=True)
        await gateway.fleet.wait_ready(60)
        for name, status in sorted(gateway.fleet.status().items()):
            if status.state != "ready":
                print(f"  server {name!r} is {status.state}: {status.error}", file=sys.stderr)
        toolbox = await gateway.toolbox()
        tools = sum(len(ns.tools) for ns in toolbox.catalog.namespaces)
        print(
            f"Fleet: {len(toolbox.catalog.namespaces)} server(s), {tools} tools; the model's prompt shows them as "
            f"{toolbox.prompt.stub_bytes:,} bytes of Python stubs "
            f"({toolbox.prompt.json_bytes:,} bytes as JSON tool definitions)."
        )
        if args.show_prompt:
            print("\n" + toolbox.prompt.text)
        print("\nThe code the model writes (one execute_code call):\n")
        print("    " + MODEL_CODE.replace("\n", "\n    ").rstrip())

        completed = 0

        async def on_call(_ref: ToolRef, _ok: bool, count: int) -> None:
            nonlocal completed
            completed = count

        started = time.perf_counter()
        result = await gateway.execute(MODEL_CODE, hooks=ExecutionHooks(on_tool_call_done=on_call))
        elapsed = time.perf_counter() - started

    print("\nWhat comes back to the model (the sandbox's stdout):\n")
    print(result.stdout.rstrip() or "(nothing)")
    if result.error is not None:
        print(f"\nThe code failed: {result.error.type}: {result.error.message}", file=sys.stderr)
        if result.error.traceback:
            print(result.error.traceback, file=sys.stderr)
        return 1
    print(
        f"\n{result.tool_calls} tool calls ran inside the {settings.sandbox.backend} sandbox in {elapsed:.2f} s; "
        f"{result.tool_output_bytes:,} bytes of tool results stayed there and "
        f"{len(result.stdout.encode()):,} bytes of answer entered the model's context."
    )
    return 0


def cli() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--config", help="gateway TOML (default configs/gateway.toml)")
    parser.add_argument("--backend", choices=["docker", "local-process"], help="override [sandbox].backend")
    parser.add_argument("--show-prompt", action="store_true", help="also print the exact prompt text")
    return anyio.run(main, parser.parse_args())


if __name__ == "__main__":
    sys.exit(cli())
