from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mcp import StdioServerParameters
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.telemetry import CaptureSettings, Telemetry

ROOT = Path(__file__).resolve().parents[2]
SDK_SERVER = ROOT / "tests" / "telemetry" / "sdk_server.py"
TIME_SERVER = ROOT / ".cache" / "servers" / "mcp-server-time" / "bin" / "mcp-server-time"


@dataclass
class Recorded:
    telemetry: Telemetry
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader


def recording_telemetry(capture: CaptureSettings | None = None) -> tuple[Recorded, TracerProvider, MeterProvider]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    telemetry = Telemetry(
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        capture=capture,
        on_shutdown=[tracer_provider.shutdown, meter_provider.shutdown],
    )
    return Recorded(telemetry=telemetry, spans=spans, metrics=reader), tracer_provider, meter_provider


@pytest.fixture
def recorded() -> Iterator[Recorded]:
    """Telemetry recording into memory, not installed globally (other tests are unaffected)."""
    rec, _, _ = recording_telemetry()
    yield rec
    rec.telemetry.shutdown()


def sdk_server_params(span_file: Path, **env: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=[str(SDK_SERVER)],
        env={"PYTHONPATH": str(ROOT), "PTC_TEST_SPAN_FILE": str(span_file), **env},
        cwd=str(ROOT),
    )
