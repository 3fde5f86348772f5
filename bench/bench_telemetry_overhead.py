"""What tracing costs per bridged tool call and per execution: disabled vs enabled vs no wrapper.

    .venv/bin/python bench/bench_telemetry_overhead.py [--calls 20000] [--out bench/results/telemetry_overhead.json]

The wrapped source answers at once (no I/O), so the numbers are pure wrapper overhead; a real
upstream call costs ~0.1-10 ms. "enabled" exports spans through a BatchSpanProcessor to an
exporter that drops them, and records metrics into a reader that is never collected: the cost
the gateway pays on its own event loop, without the network.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import cast

import anyio
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.executor import ExecutionResult  # noqa: E402
from gateway.telemetry import Telemetry, TracedToolSource, trace_execution  # noqa: E402
from gateway.testing import FunctionToolSource, RecordedCall
from gateway.tools import JsonValue, ToolRef, ToolResult, ToolSpec  # noqa: E402

REF = ToolRef(server="bench", name="echo")
RESULT = ToolResult(structured={"ok": True}, has_structured=True)
DONE = ExecutionResult(stdout="", stderr="", error=None, tool_calls=1, duration_s=0.0)


async def instant(call: RecordedCall) -> ToolResult:
    return RESULT


class Drop(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def enabled_telemetry() -> Telemetry:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(Drop()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    return Telemetry(
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        on_shutdown=[tracer_provider.shutdown, meter_provider.shutdown],
    )


async def per_op_ns(op: Callable[[], Awaitable[object]], n: int, rounds: int = 5) -> float:
    """Median over `rounds` of the mean time per call, in ns."""
    samples: list[float] = []
    for _ in range(rounds):
        started = time.perf_counter_ns()
        for _ in range(n):
            await op()
        samples.append((time.perf_counter_ns() - started) / n)
    return statistics.median(samples)


async def run(n: int) -> dict[str, float]:
    arguments: dict[str, JsonValue] = {"text": "hi"}
    inner = FunctionToolSource([ToolSpec(server=REF.server, name=REF.name)], handler=instant)
    disabled = TracedToolSource(inner, Telemetry.disabled())
    telemetry = enabled_telemetry()
    enabled = TracedToolSource(inner, telemetry, transports={"bench": "pipe"})

    async def bare_call() -> object:
        return await inner.call_tool(REF, arguments)

    async def disabled_call() -> object:
        return await disabled.call_tool(REF, arguments)

    async def enabled_call() -> object:
        return await enabled.call_tool(REF, arguments)

    async def execution(t: Telemetry) -> object:
        with trace_execution(t, code="await bench.echo(text='hi')") as span:
            span.finish(DONE)
        return None

    off = Telemetry.disabled()
    try:
        for op in (bare_call, disabled_call, enabled_call):  # warm up
            await per_op_ns(op, 1000, rounds=1)
        results = {
            "tool_call_no_wrapper_ns": await per_op_ns(bare_call, n),
            "tool_call_disabled_ns": await per_op_ns(disabled_call, n),
            "tool_call_enabled_ns": await per_op_ns(enabled_call, n),
            "execution_span_disabled_ns": await per_op_ns(lambda: execution(off), n),
            "execution_span_enabled_ns": await per_op_ns(lambda: execution(telemetry), n),
        }
    finally:
        telemetry.shutdown()
    results["tool_call_disabled_overhead_ns"] = results["tool_call_disabled_ns"] - results["tool_call_no_wrapper_ns"]
    results["tool_call_enabled_overhead_ns"] = results["tool_call_enabled_ns"] - results["tool_call_no_wrapper_ns"]
    return {key: round(value, 1) for key, value in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    args = parser.parse_args()
    load = round(os.getloadavg()[0], 2)
    started = time.perf_counter_ns()
    for _ in range(20000):
        sum(range(100))
    calibration = round((time.perf_counter_ns() - started) / 20000, 1)
    results = anyio.run(run, args.calls)
    report = {
        "calls_per_round": args.calls,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {platform.system()}, {os.cpu_count()} cpus",
        "load_average_1m_at_start": load,
        "calibration_sum_range_100_ns": calibration,
        "note": "shared 2-core machine under load from other jobs: compare runs through the calibration loop",
        "results": results,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")
        args.out.with_suffix(".md").write_text(render_markdown(report), encoding="utf-8")


def render_markdown(report: dict[str, object]) -> str:
    results = cast(dict[str, float], report["results"])
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        "# Telemetry overhead",
        "",
        f"Measured {when} on {report['machine']}, Python {report['python']}; load average "
        f"{report['load_average_1m_at_start']} at start; {report['calls_per_round']} calls per round.",
        "Generated by `bench/bench_telemetry_overhead.py` (part of `bench/run`).",
        "",
        "| what | ns per operation | over the baseline |",
        "|---|---|---|",
        f"| tool call, no wrapper (baseline) | {results['tool_call_no_wrapper_ns']} | |",
        f"| tool call, tracing wrapper, telemetry disabled | {results['tool_call_disabled_ns']} | "
        f"+{results['tool_call_disabled_overhead_ns']} |",
        f"| tool call, tracing wrapper, telemetry enabled | {results['tool_call_enabled_ns']} | "
        f"+{results['tool_call_enabled_overhead_ns']} |",
        f"| execution span, disabled | {results['execution_span_disabled_ns']} | |",
        f"| execution span, enabled | {results['execution_span_enabled_ns']} | |",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
