"""Telemetry of the Anthropic-compatible proxy: one trace per request, model spans, proxy metrics.

    POST /v1/messages              SERVER  (parent: the client's `traceparent`, when it sent one)
    ├── chat {bedrock model id}     CLIENT  one per model call, GenAI attributes and token usage
    └── execute_code                INTERNAL (trace_execution) with its sandbox and tool-call spans

Metrics: `ptc.proxy.request.duration` (by route, status, model), `ptc.proxy.time_to_first_token`
(streamed requests: from the request to the first content event), `ptc.proxy.paused_executions`
(gauge), plus the GenAI client metrics the model spans record.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterable, Mapping
from contextlib import contextmanager
from typing import Any, cast

from opentelemetry import propagate
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import Span, SpanKind, StatusCode, use_span
from opentelemetry.util.types import AttributeValue

from gateway.telemetry import _names as n
from gateway.telemetry._telemetry import Telemetry

__all__ = ["ProxyTelemetry", "RequestSpan"]

METRIC_PROXY_REQUEST_DURATION = "ptc.proxy.request.duration"
METRIC_PROXY_TTFT = "ptc.proxy.time_to_first_token"
METRIC_PROXY_PAUSED = "ptc.proxy.paused_executions"
HTTP_REQUEST_METHOD = "http.request.method"
HTTP_ROUTE = "http.route"
HTTP_RESPONSE_STATUS_CODE = "http.response.status_code"
GEN_AI_USAGE_CACHE_READ = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"


class RequestSpan:
    """One request's SERVER span and timing; ended by `finish` (after the last byte of a stream)."""

    def __init__(self, owner: ProxyTelemetry, span: Span | None, route: str) -> None:
        self._owner = owner
        self.span = span
        self._route = route
        self._started = time.perf_counter()
        self._first_token: float | None = None
        self.model: str | None = None
        self._ended = False

    def first_token(self) -> None:
        """The first content event of a stream went out."""
        if self._first_token is None and self._owner.telemetry.enabled:
            self._first_token = time.perf_counter() - self._started
            self._owner.ttft.record(self._first_token, self._attributes())

    def _attributes(self) -> dict[str, AttributeValue]:
        attributes: dict[str, AttributeValue] = {HTTP_ROUTE: self._route}
        if self.model is not None:
            attributes[n.GEN_AI_REQUEST_MODEL] = self.model
        return attributes

    def finish(self, status: int, error_type: str | None = None) -> None:
        """End the span and record the duration (once)."""
        if self._ended or not self._owner.telemetry.enabled:
            return
        self._ended = True
        attributes = {**self._attributes(), HTTP_RESPONSE_STATUS_CODE: status}
        if error_type is not None:
            attributes[n.ERROR_TYPE] = error_type
        self._owner.duration.record(time.perf_counter() - self._started, attributes)
        if self.span is not None:
            self.span.set_attributes(attributes)
            if status >= 500 or error_type is not None:
                self.span.set_status(StatusCode.ERROR, error_type or str(status))
            self.span.end()


class ProxyTelemetry:
    """The proxy's spans and instruments over the gateway's `Telemetry`."""

    def __init__(self, telemetry: Telemetry, *, paused: Callable[[], int]) -> None:
        self.telemetry = telemetry
        meter = telemetry.meter
        buckets = list(n.DURATION_BUCKETS_S)
        self.duration = meter.create_histogram(
            METRIC_PROXY_REQUEST_DURATION,
            unit="s",
            description="Duration of proxy requests (streams: until the last event).",
            explicit_bucket_boundaries_advisory=buckets,
        )
        self.ttft = meter.create_histogram(
            METRIC_PROXY_TTFT,
            unit="s",
            description="Time from a streamed request to its first content event.",
            explicit_bucket_boundaries_advisory=buckets,
        )

        def observe(_options: CallbackOptions) -> Iterable[Observation]:
            return [Observation(paused())]

        meter.create_observable_gauge(
            METRIC_PROXY_PAUSED,
            callbacks=[observe],
            unit="{execution}",
            description="Code executions paused on the client's tools (or running) in this proxy.",
        )

    def request(self, method: str, route: str, headers: Mapping[str, str]) -> RequestSpan:
        """Start the SERVER span for a request, parented on its `traceparent` header if any."""
        if not self.telemetry.enabled:
            return RequestSpan(self, None, route)
        context = propagate.extract(dict(headers))
        span = self.telemetry.tracer.start_span(
            f"{method} {route}",
            context=context,
            kind=SpanKind.SERVER,
            attributes={HTTP_REQUEST_METHOD: method, HTTP_ROUTE: route},
        )
        return RequestSpan(self, span, route)

    @contextmanager
    def active(self, request: RequestSpan) -> Generator[None]:
        """Make the request's span current (model and execution spans become its children)."""
        if request.span is None:
            yield
            return
        with use_span(request.span, end_on_exit=False, record_exception=False, set_status_on_exception=False):
            yield

    def stream_chat(self, model_id: str, body: Mapping[str, Any]) -> Callable[[Mapping[str, Any], str | None], None]:
        """A `chat {model}` span for a streamed call, started now under the current span.

        End it by calling the returned function with the accumulated message (and an error type,
        if it failed). Not a context manager: a stream's events are yielded across many loop passes, and a span
        made current across `yield`s would be detached in another context.
        """
        telemetry = self.telemetry
        if not telemetry.enabled:
            return lambda _message, _error: None
        base: dict[str, AttributeValue] = {
            n.GEN_AI_OPERATION_NAME: "chat",
            n.GEN_AI_PROVIDER_NAME: "aws.bedrock",
            n.GEN_AI_REQUEST_MODEL: model_id,
        }
        started = time.perf_counter()
        span = telemetry.tracer.start_span(f"chat {model_id}", kind=SpanKind.CLIENT, attributes=base)

        def end(message: Mapping[str, Any], error: str | None) -> None:
            _record_usage(telemetry, span, base, message)
            metric = dict(base)
            if error is not None:
                metric[n.ERROR_TYPE] = error
                span.set_attribute(n.ERROR_TYPE, error)
                span.set_status(StatusCode.ERROR, error)
            telemetry.gen_ai_duration.record(time.perf_counter() - started, metric)
            span.end()

        return end

    @contextmanager
    def chat(self, model_id: str, body: Mapping[str, Any]) -> Generator[Callable[[Mapping[str, Any]], None]]:
        """A `chat {model}` CLIENT span around one model call; call the yielded function with the response."""
        telemetry = self.telemetry
        if not telemetry.enabled:
            yield lambda _response: None
            return
        base: dict[str, AttributeValue] = {
            n.GEN_AI_OPERATION_NAME: "chat",
            n.GEN_AI_PROVIDER_NAME: "aws.bedrock",
            n.GEN_AI_REQUEST_MODEL: model_id,
        }
        attributes = dict(base)
        max_tokens = body.get("max_tokens")
        if isinstance(max_tokens, int):
            attributes[GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
        started = time.perf_counter()
        metric = dict(base)
        with telemetry.tracer.start_as_current_span(
            f"chat {model_id}",
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:

            def record(response: Mapping[str, Any]) -> None:
                _record_usage(telemetry, span, base, response)

            try:
                yield record
            except Exception as e:  # recorded and re-raised unchanged
                metric[n.ERROR_TYPE] = type(e).__qualname__
                span.set_attribute(n.ERROR_TYPE, type(e).__qualname__)
                span.record_exception(e)
                span.set_status(StatusCode.ERROR, str(e))
                raise
            finally:
                telemetry.gen_ai_duration.record(time.perf_counter() - started, metric)


def _record_usage(
    telemetry: Telemetry, span: Span, base: Mapping[str, AttributeValue], response: Mapping[str, Any]
) -> None:
    raw = response.get("usage")
    usage: Mapping[str, Any] = cast(Mapping[str, Any], raw) if isinstance(raw, Mapping) else {}
    counts: dict[str, Any] = {
        n.GEN_AI_USAGE_INPUT_TOKENS: usage.get("input_tokens"),
        n.GEN_AI_USAGE_OUTPUT_TOKENS: usage.get("output_tokens"),
        GEN_AI_USAGE_CACHE_READ: usage.get("cache_read_input_tokens"),
        GEN_AI_USAGE_CACHE_CREATION: usage.get("cache_creation_input_tokens"),
    }
    span.set_attributes({k: v for k, v in counts.items() if isinstance(v, int)})
    reason = response.get("stop_reason")
    if isinstance(reason, str):
        span.set_attribute(n.GEN_AI_RESPONSE_FINISH_REASONS, [reason])
    for key, kind in ((n.GEN_AI_USAGE_INPUT_TOKENS, "input"), (n.GEN_AI_USAGE_OUTPUT_TOKENS, "output")):
        value = counts[key]
        if isinstance(value, int):
            telemetry.gen_ai_token_usage.record(value, {**base, n.GEN_AI_TOKEN_TYPE: kind})
