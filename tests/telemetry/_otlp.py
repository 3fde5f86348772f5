"""An in-test OTLP/HTTP receiver: what a collector would get from `ptc-gateway` and its upstreams.

A stdlib `ThreadingHTTPServer` (as `tests/bedrock/endpoint.py` runs) that takes the protobuf
bodies the OTLP/HTTP exporters POST to `/v1/traces` and `/v1/metrics`, decodes them with the
`opentelemetry-proto` classes, and keeps plain records the tests can assert on. Processes under
test point at it with `OTEL_EXPORTER_OTLP_ENDPOINT` (`Receiver.env()`).
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anyio
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

__all__ = ["Point", "ReceivedSpan", "Receiver", "run_receiver"]

POLL_S = 0.1


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceivedSpan:
    """One span as it arrived, ids in hex as the W3C header writes them."""

    service: str
    name: str
    kind: str
    """`SERVER`, `CLIENT`, `INTERNAL`, …"""
    trace_id: str
    span_id: str
    parent_id: str | None
    attributes: Mapping[str, Any]
    status: str
    """`UNSET`, `OK` or `ERROR`."""
    start_ns: int
    end_ns: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Point:
    """One metric data point: histograms carry `count`/`sum`, sums and gauges `value`."""

    service: str
    metric: str
    attributes: Mapping[str, Any]
    count: int = 0
    sum: float = 0.0
    value: float = 0.0


def _value(value: AnyValue) -> Any:
    match value.WhichOneof("value"):
        case "string_value":
            return value.string_value
        case "bool_value":
            return value.bool_value
        case "int_value":
            return value.int_value
        case "double_value":
            return value.double_value
        case "array_value":
            return tuple(_value(v) for v in value.array_value.values)
        case _:
            return None


def _attributes(pairs: Sequence[KeyValue]) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


_KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
_STATUS = {0: "UNSET", 1: "OK", 2: "ERROR"}


@dataclass
class Receiver:
    """The running receiver: its URL and everything received so far."""

    url: str = ""
    spans: list[ReceivedSpan] = field(default_factory=list[ReceivedSpan])
    metric_batches: list[list[Point]] = field(default_factory=list[list[Point]])
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def env(self, service: str) -> dict[str, str]:
        """`OTEL_*` settings exporting both signals here over OTLP/HTTP, promptly."""
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.url,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_SERVICE_NAME": service,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_METRIC_EXPORT_INTERVAL": "300",
        }

    def take_traces(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        received: list[ReceivedSpan] = []
        for resource_spans in request.resource_spans:
            service = str(_attributes(resource_spans.resource.attributes).get("service.name", ""))
            for scope_spans in resource_spans.scope_spans:
                received += [
                    ReceivedSpan(
                        service=service,
                        name=span.name,
                        kind=_KINDS.get(span.kind, str(span.kind)),
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex() or None,
                        attributes=_attributes(span.attributes),
                        status=_STATUS.get(span.status.code, str(span.status.code)),
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                    )
                    for span in scope_spans.spans
                ]
        with self._lock:
            self.spans += received

    def take_metrics(self, body: bytes) -> None:
        request = ExportMetricsServiceRequest.FromString(body)
        batch: list[Point] = []
        for resource_metrics in request.resource_metrics:
            service = str(_attributes(resource_metrics.resource.attributes).get("service.name", ""))
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    match metric.WhichOneof("data"):
                        case "histogram":
                            batch += [
                                Point(
                                    service=service,
                                    metric=metric.name,
                                    attributes=_attributes(p.attributes),
                                    count=p.count,
                                    sum=p.sum,
                                )
                                for p in metric.histogram.data_points
                            ]
                        case "sum" | "gauge" as kind:
                            points = metric.sum.data_points if kind == "sum" else metric.gauge.data_points
                            batch += [
                                Point(
                                    service=service,
                                    metric=metric.name,
                                    attributes=_attributes(p.attributes),
                                    value=p.as_int if p.WhichOneof("value") == "as_int" else p.as_double,
                                )
                                for p in points
                            ]
                        case _:
                            pass
        with self._lock:
            self.metric_batches.append(batch)

    def received_spans(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self.spans)

    def latest(self, metric: str, service: str) -> list[Point]:
        """The data points of `metric` in the last export that carried it (metrics are cumulative)."""
        with self._lock:
            batches = list(self.metric_batches)
        for batch in reversed(batches):
            points = [p for p in batch if p.metric == metric and p.service == service]
            if points:
                return points
        return []

    async def wait_for_metric(self, metric: str, service: str, *, timeout_s: float = 30.0) -> list[Point]:
        """Poll until an export carrying `metric` arrived (the reader exports periodically)."""
        with anyio.fail_after(timeout_s):
            while True:
                points = self.latest(metric, service)
                if points:
                    return points
                await anyio.sleep(POLL_S)

    async def wait_for_spans(self, count: int, *, trace_id: str, timeout_s: float = 30.0) -> list[ReceivedSpan]:
        """Poll until `count` spans of `trace_id` arrived (exporters batch), then return them."""
        with anyio.fail_after(timeout_s):
            while True:
                spans = [s for s in self.received_spans() if s.trace_id == trace_id]
                if len(spans) >= count:
                    return spans
                await anyio.sleep(POLL_S)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            match self.path:
                case "/v1/traces":
                    receiver.take_traces(body)
                    answer = ExportTraceServiceResponse().SerializeToString()
                case "/v1/metrics":
                    receiver.take_metrics(body)
                    answer = ExportMetricsServiceResponse().SerializeToString()
                case _:
                    self.send_error(404)
                    return
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


@contextmanager
def run_receiver() -> Generator[Receiver]:
    """Serve on a free loopback port in a background thread; stop it on exit."""
    receiver = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="otlp-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
