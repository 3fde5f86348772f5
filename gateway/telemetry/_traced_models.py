"""`TracedModelClient`: each model request as a GenAI `chat {model}` CLIENT span with token usage.

We trace at our model seam rather than installing opentelemetry-instrumentation-botocore: that
package gives the same span shape for Converse, but patches every botocore client in the process
(S3, STS, … all become spans), is one more beta dependency pinned in lockstep with the SDK, and
would not see the scripted test clients that stand in for Bedrock behind the same seam.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from contextlib import contextmanager

import anyio
from opentelemetry.trace import Span, SpanKind, StatusCode
from opentelemetry.util.types import AttributeValue

from gateway.errors import ModelError
from gateway.models import BaseModelClient, ModelRequest, ModelResponse, TextSink
from gateway.telemetry import _names as n
from gateway.telemetry._telemetry import Telemetry

__all__ = ["TracedModelClient", "trace_agent"]

GEN_AI_USAGE_CACHE_READ: str = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION: str = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_REQUEST_MAX_TOKENS: str = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE: str = "gen_ai.request.temperature"
GEN_AI_OUTPUT_MESSAGES: str = "gen_ai.output.messages"
GEN_AI_AGENT_NAME: str = "gen_ai.agent.name"
PTC_MODE: str = "ptc.mode"
AGENT_NAME = "ptc-gateway"


@contextmanager
def trace_agent(
    telemetry: Telemetry, *, model_id: str, mode: str, provider: str = "aws.bedrock"
) -> Generator[Span | None]:
    """One `invoke_agent ptc-gateway` span around a whole model-driven run (`ptc-gateway ask`).

    Its `chat {model}` and `execute_code` spans become children, so one question is one trace.
    Attributes: `gen_ai.operation.name = invoke_agent`, `gen_ai.agent.name`, `gen_ai.provider.name`,
    `gen_ai.request.model`, `ptc.mode` (`ptc` / `classic`), `error.type` when the run raises.
    """
    if not telemetry.enabled:
        yield None
        return
    attributes: dict[str, AttributeValue] = {
        n.GEN_AI_OPERATION_NAME: "invoke_agent",
        GEN_AI_AGENT_NAME: AGENT_NAME,
        n.GEN_AI_PROVIDER_NAME: provider,
        n.GEN_AI_REQUEST_MODEL: model_id,
        PTC_MODE: mode,
    }
    with telemetry.tracer.start_as_current_span(
        f"invoke_agent {AGENT_NAME}", attributes=attributes, record_exception=False, set_status_on_exception=False
    ) as span:
        try:
            yield span
        except Exception as e:  # recorded and re-raised unchanged
            span.set_attribute(n.ERROR_TYPE, type(e).__qualname__)
            span.record_exception(e)
            span.set_status(StatusCode.ERROR, str(e))
            raise
        except BaseException:  # cancellation: recorded and re-raised unchanged
            span.set_attribute(n.ERROR_TYPE, "cancelled")
            span.set_status(StatusCode.ERROR, "cancelled")
            raise


class TracedModelClient(BaseModelClient):
    """Wraps a model client; `request` and `request_stream` become `chat {model}` spans.

    Attributes per the GenAI conventions: `gen_ai.operation.name = chat`, `gen_ai.provider.name`
    (`aws.bedrock` by default), `gen_ai.request.model`, `gen_ai.request.max_tokens`,
    `gen_ai.response.finish_reasons`, `gen_ai.usage.input_tokens` / `output_tokens` (and the cache
    counts), `error.type` on failure. Metrics `gen_ai.client.token.usage` (by `gen_ai.token.type`)
    and `gen_ai.client.operation.duration`. The reply text is recorded only with content capture on.
    """

    def __init__(self, inner: BaseModelClient, telemetry: Telemetry, *, provider: str = "aws.bedrock") -> None:
        self._inner = inner
        self._telemetry = telemetry
        self._provider = provider

    @property
    def model_id(self) -> str:
        """The wrapped client's model id."""
        return self._inner.model_id

    async def request(self, request: ModelRequest) -> ModelResponse:
        """Send one request inside a chat span."""
        if not self._telemetry.enabled:
            return await self._inner.request(request)
        with self._chat(request) as span:
            response = await self._inner.request(request)
            self._record(span, response)
            return response

    async def request_stream(self, request: ModelRequest, on_text: TextSink) -> ModelResponse:
        """Stream one request inside a chat span."""
        if not self._telemetry.enabled:
            return await self._inner.request_stream(request, on_text)
        with self._chat(request) as span:
            response = await self._inner.request_stream(request, on_text)
            self._record(span, response)
            return response

    def _base_attributes(self) -> dict[str, AttributeValue]:
        return {
            n.GEN_AI_OPERATION_NAME: "chat",
            n.GEN_AI_PROVIDER_NAME: self._provider,
            n.GEN_AI_REQUEST_MODEL: self._inner.model_id,
        }

    @contextmanager
    def _chat(self, request: ModelRequest) -> Generator[Span]:
        telemetry = self._telemetry
        attributes = self._base_attributes()
        attributes[GEN_AI_REQUEST_MAX_TOKENS] = request.max_tokens
        if request.temperature is not None:
            attributes[GEN_AI_REQUEST_TEMPERATURE] = request.temperature
        metric_attributes = self._base_attributes()
        started = time.perf_counter()
        with telemetry.tracer.start_as_current_span(
            f"chat {self._inner.model_id}",
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield span
            except anyio.get_cancelled_exc_class():
                metric_attributes[n.ERROR_TYPE] = "cancelled"
                span.set_status(StatusCode.ERROR, "cancelled")
                raise
            except Exception as e:  # recorded and re-raised unchanged
                error_type = "throttled" if isinstance(e, ModelError) and e.retryable else type(e).__qualname__
                metric_attributes[n.ERROR_TYPE] = error_type
                span.record_exception(e)
                span.set_status(StatusCode.ERROR, str(e))
                raise
            finally:
                if n.ERROR_TYPE in metric_attributes:
                    span.set_attribute(n.ERROR_TYPE, metric_attributes[n.ERROR_TYPE])
                telemetry.gen_ai_duration.record(time.perf_counter() - started, metric_attributes)

    def _record(self, span: Span, response: ModelResponse) -> None:
        usage = response.usage
        span.set_attributes(
            {
                n.GEN_AI_RESPONSE_FINISH_REASONS: [response.stop_reason],
                n.GEN_AI_USAGE_INPUT_TOKENS: usage.input_tokens,
                n.GEN_AI_USAGE_OUTPUT_TOKENS: usage.output_tokens,
                GEN_AI_USAGE_CACHE_READ: usage.cache_read_input_tokens,
                GEN_AI_USAGE_CACHE_CREATION: usage.cache_write_input_tokens,
            }
        )
        captured = self._telemetry.capture.render(response.message.text)
        if captured is not None:
            span.set_attribute(GEN_AI_OUTPUT_MESSAGES, captured)
        base = self._base_attributes()
        histogram = self._telemetry.gen_ai_token_usage
        histogram.record(usage.input_tokens, {**base, n.GEN_AI_TOKEN_TYPE: "input"})
        histogram.record(usage.output_tokens, {**base, n.GEN_AI_TOKEN_TYPE: "output"})
