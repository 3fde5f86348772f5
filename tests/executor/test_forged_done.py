"""A forged `done` frame cannot push unbounded text through the host (issue 14, item 2).

The runner shares its process with the code, so the `done` frame's error text is the code's word.
Whatever it carries is clipped where it enters, so every way out stays bounded: the
`ExecutionResult`, the MCP tool result, the orchestrator's message to the model, the CLI's
report and the execution span.
"""

from __future__ import annotations

import json

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bridge.protocol import encode_frame
from gateway.cli._cmd_run import _report  # pyright: ignore[reportPrivateUsage]
from gateway.config import ExecutionLimits
from gateway.orchestrator._system_prompt import format_execution  # the pure part, not on the front door
from gateway.server._tool import render_result
from gateway.telemetry import Telemetry, trace_execution
from tests.executor._fleet import run
from tests.security._scripted import ScriptedBackend

pytestmark = pytest.mark.anyio

HUGE_BYTES = 4 * 1024 * 1024
LIMITS = ExecutionLimits(max_output_bytes=64 * 1024, max_frame_bytes=16 * 1024 * 1024)
SLACK_BYTES = 200
"""Room for the truncation marker."""


def _forged_done(nonce: str) -> bytes:
    error = {
        "type": "ValueError",
        "message": "m" * HUGE_BYTES,
        "traceback": "Traceback (most recent call last):\n" + "t" * HUGE_BYTES,
        "lineno": 1,
    }
    done = {"type": "done", "ok": False, "tool_calls": 0, "stdout_dropped": 0, "stderr_dropped": 0, "error": error}
    return encode_frame(nonce, {"type": "started"}) + encode_frame(nonce, done)


async def test_a_4_mib_traceback_is_clipped_on_every_way_out(capsys: pytest.CaptureFixture[str]) -> None:
    limit = LIMITS.max_output_bytes
    result = await run(ScriptedBackend(_forged_done), "pass", limits=LIMITS, timeout_s=30)

    error = result.error
    assert error is not None and error.kind == "code" and error.type == "ValueError"
    assert error.traceback is not None
    for text in (error.message, error.traceback):
        assert len(text.encode()) <= limit + SLACK_BYTES
        assert f"more bytes dropped (max_output_bytes={limit})" in text

    # The MCP tool result: its text block and its structured content.
    mcp = render_result(result)
    assert len(mcp.model_dump_json().encode()) <= 4 * (limit + SLACK_BYTES)

    # What the orchestrator shows the model (its own cap is far bigger than max_output_bytes).
    text, is_error = format_execution(result, limit_bytes=100 * 1024 * 1024)
    assert is_error and len(text.encode()) <= 3 * (limit + SLACK_BYTES)

    # The CLI's report on stderr.
    capsys.readouterr()
    assert _report(result) == 1
    out, err = capsys.readouterr()
    assert out == "" and len(err.encode()) <= 3 * (limit + SLACK_BYTES)

    # The execution span.
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry = Telemetry(tracer_provider=provider, on_shutdown=[provider.shutdown])
    with trace_execution(telemetry, code="pass") as span:
        span.finish(result)
    telemetry.shutdown()
    (recorded,) = exporter.get_finished_spans()
    assert len(json.dumps(recorded.to_json()).encode()) <= 3 * (limit + SLACK_BYTES)


async def test_counts_beyond_any_real_value_are_a_protocol_violation() -> None:
    def script(nonce: str) -> bytes:
        done = {"type": "done", "ok": True, "tool_calls": 0, "stdout_dropped": 10**40, "stderr_dropped": 0}
        return encode_frame(nonce, {"type": "started"}) + encode_frame(nonce, done)

    result = await run(ScriptedBackend(script), "pass", limits=LIMITS, timeout_s=30)
    assert result.error is not None and result.error.kind == "protocol"
    assert "stdout_dropped" in result.error.message
