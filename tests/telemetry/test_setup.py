"""`setup_telemetry()` reads the standard `OTEL_*` variables; nothing configured means nothing paid."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as trace_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceServicer
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.errors import ConfigError
from gateway.telemetry import capture_from_env, setup_telemetry


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("OTEL_") or key.startswith("PTC_OTEL_"):
            monkeypatch.delenv(key)


def test_no_configuration_means_disabled() -> None:
    telemetry = setup_telemetry(set_global=False)
    assert not telemetry.enabled
    telemetry.shutdown()


def test_sdk_disabled_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    assert not setup_telemetry(set_global=False).enabled


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_an_otlp_endpoint_turns_on_both_signals(monkeypatch: pytest.MonkeyPatch, protocol: str) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")  # no export attempt at shutdown
    telemetry = setup_telemetry(set_global=False)
    try:
        assert telemetry.enabled
        assert telemetry.tracer.start_span("probe").is_recording()
    finally:
        telemetry.shutdown()


def test_extra_processors_see_spans_with_the_service_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    spans = InMemorySpanExporter()
    telemetry = setup_telemetry(set_global=False, span_processors=[SimpleSpanProcessor(spans)])
    telemetry.tracer.start_span("probe").end()
    telemetry.shutdown()
    (span,) = spans.get_finished_spans()
    assert span.resource.attributes["service.name"] == "ptc-gateway"
    assert not hasattr(trace.get_tracer_provider(), "add_span_processor"), "set_global=False left the global alone"


def test_otel_service_name_overrides_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "gateway-eu-1")
    spans = InMemorySpanExporter()
    telemetry = setup_telemetry(set_global=False, span_processors=[SimpleSpanProcessor(spans)])
    telemetry.tracer.start_span("probe").end()
    telemetry.shutdown()
    assert spans.get_finished_spans()[0].resource.attributes["service.name"] == "gateway-eu-1"


def test_unsupported_protocol_is_a_config_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json")
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"):
        setup_telemetry(set_global=False)


def test_unknown_exporter_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    with pytest.raises(ConfigError, match="OTEL_TRACES_EXPORTER"):
        setup_telemetry(set_global=False)


def test_content_capture_is_off_unless_asked() -> None:
    assert not capture_from_env({}).content
    capture = capture_from_env(
        {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true", "PTC_OTEL_CAPTURE_MAX_CHARS": "100"}
    )
    assert (capture.content, capture.max_chars) == (True, 100)
    with pytest.raises(ConfigError, match="PTC_OTEL_CAPTURE_MAX_CHARS"):
        capture_from_env({"PTC_OTEL_CAPTURE_MAX_CHARS": "lots"})


def test_console_exporter_writes_spans_to_stderr_never_stdout(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    telemetry = setup_telemetry(set_global=False)
    telemetry.tracer.start_span("probe").end()
    telemetry.shutdown()
    captured = capsys.readouterr()
    assert captured.out == "", "stdout is the MCP channel over stdio"
    assert '"name": "probe"' in captured.err


class _TraceCollector(TraceServiceServicer):
    """The gRPC side of an OTLP receiver: keeps the span names it is sent."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def Export(self, request: ExportTraceServiceRequest, context: object) -> ExportTraceServiceResponse:
        self.names += [s.name for r in request.resource_spans for scope in r.scope_spans for s in scope.spans]
        return ExportTraceServiceResponse()


def test_spans_reach_an_otlp_grpc_receiver(monkeypatch: pytest.MonkeyPatch) -> None:
    collector = _TraceCollector()
    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    trace_grpc.add_TraceServiceServicer_to_server(collector, server)  # pyright: ignore[reportUnknownMemberType]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
        telemetry = setup_telemetry(set_global=False)
        telemetry.tracer.start_span("over grpc").end()
        telemetry.shutdown()  # flushes the batch processor
    finally:
        server.stop(grace=None)
    assert collector.names == ["over grpc"]


def test_disabled_telemetry_never_imports_the_sdk() -> None:
    """Start-up cost when off: the gateway imports only the light OpenTelemetry API."""
    probe = (
        "import sys; import gateway.app, gateway.server, gateway.cli; from gateway.telemetry import setup_telemetry; "
        "assert not setup_telemetry().enabled; "
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry.sdk')))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
