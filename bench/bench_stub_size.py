"""Stub size against the JSON tool definitions of the same fleet (goal: stub bytes / JSON bytes <= 0.6).

Reads the committed tools/list of the five real test servers (tests/fixtures/schemas/real), so it
needs neither the servers nor the network:

    .venv/bin/python bench/bench_stub_size.py

Two yardsticks: the full MCP definitions (name, title, description, inputSchema, outputSchema,
annotations: everything the stubs render) and the input-only definitions (name, description,
inputSchema). Rendering time is reported too (median of a few runs; informational only).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.catalog import build_catalog  # noqa: E402
from gateway.config import ExecutionLimits, StubSettings  # noqa: E402
from gateway.stubs import json_definition_bytes, render_prompt, render_stubs  # noqa: E402
from tests.stubs._corpus import REAL_SERVERS, SCHEMAS, load_file  # noqa: E402

GOAL_RATIO = 0.6


def main() -> int:
    rows: list[tuple[str, int, int, int, int]] = []
    all_specs = []
    for server in REAL_SERVERS:
        specs = load_file(SCHEMAS / "real" / f"{server}.json")
        all_specs += specs
        catalog = build_catalog(specs)
        stub_bytes = len(render_stubs(catalog).body.encode())
        rows.append(
            (
                server,
                len(catalog.tools),
                stub_bytes,
                json_definition_bytes(catalog),
                json_definition_bytes(catalog, input_only=True),
            )
        )
    catalog = build_catalog(all_specs)
    timings: list[float] = []
    for _ in range(5):
        start = time.perf_counter()
        prompt = render_prompt(catalog, settings=StubSettings(), limits=ExecutionLimits())
        timings.append(time.perf_counter() - start)
    rows.append(
        (
            "fleet",
            len(catalog.tools),
            prompt.stub_bytes,
            prompt.json_bytes,
            json_definition_bytes(catalog, input_only=True),
        )
    )

    print(f"{'server':<12} {'tools':>5} {'stubs':>8} {'json':>8} {'ratio':>6} {'json-in':>8} {'ratio':>6}")
    for server, tools, stubs, full, inputs in rows:
        print(f"{server:<12} {tools:>5} {stubs:>8} {full:>8} {stubs / full:>6.2f} {inputs:>8} {stubs / inputs:>6.2f}")
    print(f"prompt: {len(prompt.text.encode())} bytes ({'compact' if prompt.compact else 'full'} stubs)")
    print(f"render_prompt: {statistics.median(timings) * 1000:.1f} ms (median of {len(timings)})")
    ok = prompt.ratio <= GOAL_RATIO
    print(f"goal stub/JSON <= {GOAL_RATIO}: {'met' if ok else 'NOT met'} ({prompt.ratio:.2f})")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
