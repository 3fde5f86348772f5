"""Stub size against the JSON tool definitions of the same fleet (goal: stub bytes / JSON bytes <= 0.6).

Reads the committed tools/list (and server instructions) of the five real test servers
(tests/fixtures/schemas/real), so it needs neither the servers nor the network:

    .venv/bin/python bench/bench_stub_size.py [--out bench/results]

Two yardsticks: the full MCP definitions (name, title, description, inputSchema, outputSchema,
annotations: everything the stubs render) and the input-only definitions (name, description,
inputSchema). The stubs are measured as the model sees them, namespace docstrings included: those
carry the servers' `instructions` (1.6 KB for `everything`), which a JSON tools/list does not, so the
table also shows the ratio with the instructions counted on the JSON side (a client that shows
them to its model sends them too). Rendering time is reported (median of a few runs; informational).
Writes `stub_size.json` and `stub_size.md` into `--out`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.catalog import build_catalog  # noqa: E402
from gateway.config import ExecutionLimits, StubSettings  # noqa: E402
from gateway.stubs import json_definition_bytes, render_prompt, render_stubs  # noqa: E402
from gateway.tools import ToolSpec  # noqa: E402
from tests.stubs._corpus import REAL_SERVERS, SCHEMAS, load_file, real_descriptions  # noqa: E402

GOAL_RATIO = 0.6
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    server: str
    tools: int
    stub_bytes: int
    json_bytes: int
    ratio: float
    json_input_only_bytes: int
    ratio_input_only: float
    instructions_bytes: int
    ratio_with_instructions_on_both_sides: float

    def markdown(self) -> str:
        return (
            f"| {self.server} | {self.tools} | {self.stub_bytes} | {self.json_bytes} | {self.ratio:.2f} |"
            f" {self.json_input_only_bytes} | {self.ratio_input_only:.2f} | {self.instructions_bytes} |"
            f" {self.ratio_with_instructions_on_both_sides:.2f} |"
        )


def _row(name: str, specs: list[ToolSpec], descriptions: dict[str, str]) -> Row:
    catalog = build_catalog(specs, descriptions=descriptions)
    stub_bytes = len(render_stubs(catalog).body.encode())
    json_bytes = json_definition_bytes(catalog)
    input_only = json_definition_bytes(catalog, input_only=True)
    instructions = sum(len(text.encode()) for text in descriptions.values())
    return Row(
        server=name,
        tools=len(catalog.tools),
        stub_bytes=stub_bytes,
        json_bytes=json_bytes,
        ratio=round(stub_bytes / json_bytes, 3),
        json_input_only_bytes=input_only,
        ratio_input_only=round(stub_bytes / input_only, 3),
        instructions_bytes=instructions,
        ratio_with_instructions_on_both_sides=round(stub_bytes / (json_bytes + instructions), 3),
    )


def main(out: Path) -> int:
    all_descriptions = real_descriptions()
    rows: list[Row] = []
    all_specs: list[ToolSpec] = []
    for server in REAL_SERVERS:
        specs = load_file(SCHEMAS / "real" / f"{server}.json")
        all_specs += specs
        rows.append(_row(server, specs, {k: v for k, v in all_descriptions.items() if k == server}))
    fleet = _row("fleet", all_specs, all_descriptions)
    rows.append(fleet)
    catalog = build_catalog(all_specs, descriptions=all_descriptions)
    prompt = render_prompt(catalog, settings=StubSettings(), limits=ExecutionLimits())
    timings: list[float] = []
    for _ in range(5):
        start = time.perf_counter()
        render_prompt(catalog, settings=StubSettings(), limits=ExecutionLimits())
        timings.append(time.perf_counter() - start)
    assert prompt.stub_bytes == fleet.stub_bytes and prompt.json_bytes == fleet.json_bytes
    goal_met = prompt.ratio <= GOAL_RATIO
    render_ms = round(statistics.median(timings) * 1000, 1)
    result: dict[str, object] = {
        "goal_ratio": GOAL_RATIO,
        "ratio": fleet.ratio,
        "goal_met": goal_met,
        "prompt_bytes": len(prompt.text.encode()),
        "prompt_compact": prompt.compact,
        "render_prompt_ms_median": render_ms,
        "rows": [asdict(row) for row in rows],
    }
    head = (
        "| server | tools | stub bytes | JSON bytes | ratio | JSON input-only | ratio | instructions"
        " | ratio (instr. both sides) |"
    )
    lines = [
        "# Stub size vs JSON tool definitions (five real servers)",
        "",
        "`.venv/bin/python bench/bench_stub_size.py` over the committed tools/list of the five test",
        "servers (tests/fixtures/schemas/real). Stub bytes: the rendered stubs as the model sees them",
        "(TypedDicts and namespace classes, namespace docstrings = server title + instructions).",
        "",
        head,
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
        *(row.markdown() for row in rows),
        "",
        f"Goal stub/JSON <= {GOAL_RATIO}: **{'met' if goal_met else 'NOT met'}** ({prompt.ratio:.2f}).",
        f"Whole prompt (preamble + stubs): {len(prompt.text.encode())} bytes, "
        f"{'compact index' if prompt.compact else 'full stubs'}; render_prompt {render_ms} ms"
        " (median of 5, informational).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    (out / "stub_size.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (out / "stub_size.md").write_text(text, encoding="utf-8")
    return 0 if goal_met else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for stub_size.{json,md}")
    raise SystemExit(main(parser.parse_args().out))
