"""`setup_telemetry()`: providers and exporters from the standard `OTEL_*` environment variables.

Only exporters the user asked for are built, and the OTLP exporter packages are imported only
then. The exporters read their own standard variables (`OTEL_EXPORTER_OTLP_ENDPOINT`,
`..._HEADERS`, `..._TIMEOUT`, `..._COMPRESSION`, certificates); the tracer provider reads
`OTEL_TRACES_SAMPLER`; the resource reads `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`;
the batch processor `OTEL_BSP_*`; the metric reader `OTEL_METRIC_EXPORT_INTERVAL`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Literal

from opentelemetry import metrics, trace

if TYPE_CHECKING:  # the SDK is imported only when telemetry is on (it costs ~0.1 s at start-up)
    from opentelemetry.sdk.metrics.export import MetricExporter, MetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import SpanProcessor
    from opentelemetry.sdk.trace.export import SpanExporter

from gateway import __version__
from gateway.errors import ConfigError
from gateway.telemetry._telemetry import CAPTURE_MAX_CHARS, CaptureSettings, Telemetry

__all__ = ["capture_from_env", "setup_telemetry"]

Signal = Literal["traces", "metrics"]
OtlpProtocol = Literal["grpc", "http/protobuf"]

CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
"""The GenAI conventions' opt-in for content; here it also covers tool arguments, results and code."""
CAPTURE_MAX_CHARS_ENV = "PTC_OTEL_CAPTURE_MAX_CHARS"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _exporter_names(signal: Signal, env: Mapping[str, str]) -> list[str]:
    """Exporters for one signal: `OTEL_{SIGNAL}_EXPORTER`, else `otlp` when an OTLP endpoint is set.

    Unlike the SDK's auto-configuration we do not default to OTLP on localhost: a gateway started
    without any `OTEL_*` configuration exports nothing and pays (almost) nothing.
    """
    raw = env.get(f"OTEL_{signal.upper()}_EXPORTER")
    if raw is None:
        endpoint = env.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        return ["otlp"] if endpoint else []
    names = [name.strip().lower() for name in raw.split(",") if name.strip()]
    return [] if "none" in names else names


def _protocol(signal: Signal, env: Mapping[str, str]) -> OtlpProtocol:
    key = f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL"
    raw = env.get(key) or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf"
    match raw.strip().lower():
        case "grpc":
            return "grpc"
        case "http/protobuf":
            return "http/protobuf"
        case other:
            raise ConfigError(f"unsupported OTLP protocol {other!r}: use 'grpc' or 'http/protobuf'", key=key)


def _missing(package: str, error: ImportError) -> ConfigError:
    return ConfigError(f"the OTLP exporter needs the package {package!r} ({error}); install it with pip")


def _span_exporter(name: str, env: Mapping[str, str]) -> SpanExporter:
    match name:
        case "console":
            # stderr, never stdout: over stdio, stdout is the MCP protocol channel.
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            return ConsoleSpanExporter(out=sys.stderr)
        case "otlp" if _protocol("traces", env) == "grpc":
            try:
                from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
            except ImportError as e:
                raise _missing("opentelemetry-exporter-otlp-proto-grpc", e) from e
            return OTLPSpanExporter()
        case "otlp":
            try:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            except ImportError as e:
                raise _missing("opentelemetry-exporter-otlp-proto-http", e) from e
            return OTLPSpanExporter()
        case _:
            raise ConfigError(
                f"unknown traces exporter {name!r}: use otlp, console or none", key="OTEL_TRACES_EXPORTER"
            )


def _metric_exporter(name: str, env: Mapping[str, str]) -> MetricExporter:
    match name:
        case "console":
            from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

            return ConsoleMetricExporter(out=sys.stderr)
        case "otlp" if _protocol("metrics", env) == "grpc":
            try:
                from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
            except ImportError as e:
                raise _missing("opentelemetry-exporter-otlp-proto-grpc", e) from e
            return OTLPMetricExporter()
        case "otlp":
            try:
                from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
            except ImportError as e:
                raise _missing("opentelemetry-exporter-otlp-proto-http", e) from e
            return OTLPMetricExporter()
        case _:
            raise ConfigError(
                f"unknown metrics exporter {name!r}: use otlp, console or none", key="OTEL_METRICS_EXPORTER"
            )


def _resource(service_name: str) -> Resource:
    from opentelemetry.sdk.resources import Resource

    resource = Resource.create()
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": service_name}))
    return resource.merge(Resource({"service.version": __version__}))


def capture_from_env(env: Mapping[str, str] | None = None) -> CaptureSettings:
    """Content capture from `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` (off by default)."""
    env = os.environ if env is None else env
    raw_max = env.get(CAPTURE_MAX_CHARS_ENV)
    try:
        max_chars = int(raw_max) if raw_max else CAPTURE_MAX_CHARS
    except ValueError as e:
        raise ConfigError(f"expected a whole number of characters, got {raw_max!r}", key=CAPTURE_MAX_CHARS_ENV) from e
    return CaptureSettings(content=_truthy(env.get(CAPTURE_CONTENT_ENV)), max_chars=max(0, max_chars))


def setup_telemetry(
    *,
    service_name: str = "ptc-gateway",
    set_global: bool = True,
    span_processors: Sequence[SpanProcessor] = (),
    metric_readers: Sequence[MetricReader] = (),
    capture: CaptureSettings | None = None,
) -> Telemetry:
    """Build telemetry from the standard `OTEL_*` environment variables.

    - `OTEL_SDK_DISABLED=true`: nothing at all.
    - `OTEL_TRACES_EXPORTER` / `OTEL_METRICS_EXPORTER`: comma lists of `otlp`, `console`, `none`.
      Unset, a signal is exported over OTLP only when an OTLP endpoint is set
      (`OTEL_EXPORTER_OTLP_ENDPOINT` or the per-signal one).
    - `OTEL_EXPORTER_OTLP_PROTOCOL` (or per signal): `http/protobuf` (default) or `grpc`.

    `set_global` installs the providers as OpenTelemetry's global ones, which is what makes the
    MCP SDK's own spans (the `tools/call execute_code` server span, the wire-level client spans)
    part of the same traces. `span_processors` and `metric_readers` are added on top of the
    configured exporters (tests use in-memory ones). The returned handle's `shutdown()` flushes
    and stops everything; call it once at exit.
    """
    env = os.environ
    capture = capture_from_env(env) if capture is None else capture
    if _truthy(env.get("OTEL_SDK_DISABLED")):
        return Telemetry(capture=capture)

    trace_exporters, metric_exporters = _exporter_names("traces", env), _exporter_names("metrics", env)
    if not (trace_exporters or metric_exporters or span_processors or metric_readers):
        return Telemetry(capture=capture)  # before any SDK import: disabled costs nothing at start-up

    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    processors: list[SpanProcessor] = [BatchSpanProcessor(_span_exporter(name, env)) for name in trace_exporters]
    processors.extend(span_processors)
    readers: list[MetricReader] = [
        PeriodicExportingMetricReader(_metric_exporter(name, env)) for name in metric_exporters
    ]
    readers.extend(metric_readers)

    resource = _resource(service_name)
    shutdowns: list[Callable[[], object]] = []
    tracer_provider: TracerProvider | None = None
    meter_provider: MeterProvider | None = None
    if processors:
        tracer_provider = TracerProvider(resource=resource)
        for processor in processors:
            tracer_provider.add_span_processor(processor)
        shutdowns.append(tracer_provider.shutdown)
        if set_global:
            trace.set_tracer_provider(tracer_provider)
    if readers:
        meter_provider = MeterProvider(resource=resource, metric_readers=readers)
        shutdowns.append(meter_provider.shutdown)
        if set_global:
            metrics.set_meter_provider(meter_provider)
    return Telemetry(
        tracer_provider=tracer_provider, meter_provider=meter_provider, capture=capture, on_shutdown=shutdowns
    )
