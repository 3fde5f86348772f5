"""PTC vs classic tool calling: model turns, input/output tokens, context bytes and wall time.

Runs each scenario through the real orchestrator, boto3 and the real demo MCP servers
(examples/expenses_server.py, examples/hr_server.py), with the model played by the scripted models
of tests/bedrock behind the local Bedrock-compatible endpoint:

- travel:   "Which engineering team members exceeded their Q3 travel budget?" (33 tool calls)
- join:     engineering's Q3 travel spend per office city, expenses x hr (34 tool calls)
- one_call: "Which departments does the company have?" (1 tool call: PTC should not win here)

Modes: `ptc` (one program), `classic` (one tool call per turn) and `classic-parallel` (every call
that can be made goes out in the same turn, as strong tool-use models do).

What the numbers are: token counts come from the endpoint's usage field, which estimates tokens
at 4 characters per token over exactly what the model is sent (system prompt, tool definitions,
messages) and writes. They measure context size faithfully and relatively (PTC and classic
counted the same way), not any model's real tokenizer. Wall time is the orchestrator, boto3,
sandbox and MCP servers with an instant model: real models add seconds per turn, which favours
the mode with fewer turns even more. The model id is a Claude one, so cache points are sent and
the endpoint simulates prompt caching; `total input` counts cached tokens too.

    .venv/bin/python bench/bench_ptc_vs_classic.py [--sandbox local-process|docker] [--out bench/results]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Generator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import anyio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.app import open_gateway  # noqa: E402
from gateway.config import GatewaySettings, SandboxSettings, ServerConfig, StdioServerConfig  # noqa: E402
from gateway.models import BedrockModelClient  # noqa: E402
from gateway.orchestrator import RunResult, ask  # noqa: E402
from tests.bedrock.endpoint import Endpoint, ScriptedModel, run_endpoint  # noqa: E402
from tests.bedrock.scripted import SCENARIOS, classic_model, ptc_model  # noqa: E402

MODEL_ID = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
MODES = ("ptc", "classic", "classic-parallel")
TOKENS_NOTE = (
    "**Token counts are estimates, not a tokenizer's.** No real model was called: a scripted model "
    "answered behind the local Bedrock-compatible endpoint of `tests/bedrock`, and that endpoint "
    "reports usage as 4 characters per token over exactly what the model is sent (system prompt, "
    "tool definitions, messages) and writes. Both modes are counted the same way, so the ratios "
    "measure context size; absolute numbers for a real model will differ. Wall times use an instant model."
)
Backend = Literal["local-process", "docker"]


@contextmanager
def endpoint_env(model: ScriptedModel) -> Generator[Endpoint]:
    with run_endpoint(model) as endpoint:
        saved = {key: os.environ.get(key) for key in endpoint.env()}
        os.environ.update(endpoint.env())
        try:
            yield endpoint
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def settings(backend: Backend) -> GatewaySettings:
    servers: dict[str, ServerConfig] = {
        name: StdioServerConfig(command=sys.executable, args=[str(ROOT / "examples" / f"{name}_server.py")])
        for name in ("expenses", "hr")
    }
    return GatewaySettings(servers=servers, sandbox=SandboxSettings(backend=backend, pool_size=1))


async def run_all(backend: Backend) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    async with open_gateway(settings(backend)) as gateway:
        await gateway.fleet.wait_ready(60)
        # Warm-up (imports, first sandbox) so that the first measured run is not penalised.
        await gateway.execute("print(1)")
        for name, scenario in SCENARIOS.items():
            answers: dict[str, str] = {}
            for mode in MODES:
                match mode:
                    case "ptc":
                        model = ptc_model(scenario)
                    case "classic":
                        model = classic_model(scenario)
                    case _:
                        model = classic_model(scenario, parallel=True)
                with endpoint_env(model):
                    result: RunResult = await ask(
                        gateway,
                        scenario.question,
                        model=BedrockModelClient(model_id=MODEL_ID),
                        mode="ptc" if mode == "ptc" else "classic",
                    )
                assert result.stop == "answered", (name, mode, result)
                answers[mode] = result.answer
                rows.append({**result.stats.to_json(), "scenario": name, "mode": mode, "answer": result.answer})
                print(
                    f"{name:9} {mode:17} {result.stats.turns:3} turns  {result.stats.total_input_tokens:8,} in",
                    file=sys.stderr,
                )
            assert len(set(answers.values())) == 1, f"answers differ for {name}: {answers}"
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| scenario | mode | turns | tool calls | total input tokens (est.) | uncached input (est.)"
        " | output tokens (est.) | tool bytes into context | wall s | input vs classic |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    classic = {r["scenario"]: r for r in rows if r["mode"] == "classic"}
    for r in rows:
        base = classic[r["scenario"]]["total_input_tokens"]
        change = (r["total_input_tokens"] - base) / base * 100
        lines.append(
            f"| {r['scenario']} | {r['mode']} | {r['turns']} | {r['tool_calls']} | {r['total_input_tokens']:,} | "
            f"{r['input_tokens']:,} | {r['output_tokens']:,} | {r['tool_output_bytes']:,} | {r['wall_time_s']:.2f} | "
            f"{change:+.1f} % |"
        )
    lines.append("")
    for name in dict.fromkeys(r["scenario"] for r in rows):
        by_mode = {r["mode"]: r for r in rows if r["scenario"] == name}
        ptc = by_mode["ptc"]["total_input_tokens"]
        parts = [
            f"{(1 - ptc / by_mode[m]['total_input_tokens']) * 100:.1f} % fewer than {m}"
            if ptc < by_mode[m]["total_input_tokens"]
            else f"{(ptc / by_mode[m]['total_input_tokens'] - 1) * 100:.1f} % MORE than {m}"
            for m in ("classic", "classic-parallel")
        ]
        lines.append(f"- {name}: PTC total input tokens (estimated) {', '.join(parts)}.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sandbox", choices=("local-process", "docker"), default="local-process")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    rows = anyio.run(run_all, args.sandbox)
    load_after = os.getloadavg()[0]
    meta = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "sandbox": args.sandbox,
        "model_id": MODEL_ID,
        "python": platform.python_version(),
        "load_average_1m": [round(load_before, 2), round(load_after, 2)],
        "runs_per_cell": 1,
        "tokens": "ESTIMATED by the local endpoint at 4 characters per token over the request as sent; no real model",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"ptc_vs_classic_{args.sandbox}"
    (args.out / f"{stem}.json").write_text(json.dumps({"meta": meta, "runs": rows}, indent=2) + "\n", encoding="utf-8")
    machine = (
        f"One run per cell on a shared 2-core machine (1-minute load average {load_before:.1f} before, "
        f"{load_after:.1f} after): wall times are noisy; token counts are deterministic."
    )
    md = f"# PTC vs classic ({args.sandbox} sandbox, {meta['date']})\n\n{TOKENS_NOTE}\n\n{machine}\n\n{table(rows)}\n"
    (args.out / f"{stem}.md").write_text(md, encoding="utf-8")
    print(md)


if __name__ == "__main__":
    main()
