"""`trace_execution`: the span around one code execution, and the execution metrics."""

from __future__ import annotations

import time
from collections.abc import Generator
from contextlib import contextmanager
from typing import Literal, TypeAlias

from opentelemetry.trace import Span, StatusCode
from opentelemetry.util.types import AttributeValue

from gateway.errors import SandboxUnavailableError
from gateway.executor import ExecutionResult, FailureKind
from gateway.telemetry import _names as n
from gateway.telemetry._telemetry import Telemetry

__all__ = ["ExecutionOutcome", "ExecutionSpan", "trace_execution"]

ExecutionOutcome: TypeAlias = Literal["ok", "unavailable", "cancelled", "error", "detached"] | FailureKind
"""`ptc.execution.outcome`: `ok`, the result's failure kind, or why `execute` itself raised."""


class ExecutionSpan:
    """Handle on the current execution span: hand it the result with `finish`."""

    __slots__ = ("detached", "result", "span")

    def __init__(self, span: Span | None) -> None:
        self.span = span
        """The OpenTelemetry span, None when telemetry is disabled."""
        self.result: ExecutionResult | None = None
        self.detached = False

    def finish(self, result: ExecutionResult) -> None:
        """Record what the execution produced (outcome, tool calls, error) when the block exits."""
        self.result = result

    def finish_detached(self) -> None:
        """The execution left this process at a pause (another one continues it): outcome `detached`."""
        self.detached = True


@contextmanager
def trace_execution(telemetry: Telemetry, *, code: str) -> Generator[ExecutionSpan]:
    """Wrap one execution in an `execute_code` span and count it by outcome.

    Use around `Executor.execute`; the sandbox acquire span and every bridged tool call span
    started inside become its children (parallel calls are siblings)::

        with trace_execution(telemetry, code=code) as execution:
            result = await executor.execute(code, ...)
            execution.finish(result)

    Outcome (`ptc.execution.outcome`, also the `ptc.executions` counter's attribute): `ok`, the
    failure kind of the result (`code`, `tool`, `timeout`, `crash`, `limit`, `protocol`), `detached`
    (`finish_detached`: it left this process at a pause), or,
    when `execute` raised, `unavailable` (no sandbox) / `cancelled` / `error`.
    """
    if not telemetry.enabled:
        yield ExecutionSpan(None)
        return
    attributes: dict[str, AttributeValue] = {n.PTC_CODE_SIZE: len(code)}
    captured = telemetry.capture.render(code)
    if captured is not None:
        attributes[n.PTC_CODE] = captured
    started = time.perf_counter()
    with telemetry.tracer.start_as_current_span(
        n.SPAN_EXECUTE_CODE, attributes=attributes, record_exception=False, set_status_on_exception=False
    ) as span:
        execution = ExecutionSpan(span)
        outcome: ExecutionOutcome = "error"
        try:
            yield execution
        except Exception as e:  # recorded and re-raised unchanged
            outcome = "unavailable" if isinstance(e, SandboxUnavailableError) else "error"
            span.set_attribute(n.ERROR_TYPE, type(e).__qualname__)
            span.record_exception(e)
            span.set_status(StatusCode.ERROR, str(e))
            raise
        except BaseException:  # cancellation (or interpreter exit): recorded and re-raised unchanged
            outcome = "cancelled"
            span.set_attribute(n.ERROR_TYPE, "cancelled")
            span.set_status(StatusCode.ERROR, "cancelled")
            raise
        else:
            result = execution.result
            if execution.detached:
                outcome = "detached"
            elif result is not None:
                outcome = _record_result(span, result)
                telemetry.execution_tool_calls.record(result.tool_calls, {n.PTC_EXECUTION_OUTCOME: outcome})
        finally:
            span.set_attribute(n.PTC_EXECUTION_OUTCOME, outcome)
            metric_attributes = {n.PTC_EXECUTION_OUTCOME: outcome}
            telemetry.executions.add(1, metric_attributes)
            telemetry.execution_duration.record(time.perf_counter() - started, metric_attributes)


def _record_result(span: Span, result: ExecutionResult) -> ExecutionOutcome:
    span.set_attribute(n.PTC_EXECUTION_TOOL_CALLS, result.tool_calls)
    if result.error is None:
        return "ok"
    span.set_attribute(n.ERROR_TYPE, result.error.type)
    span.set_status(StatusCode.ERROR, result.error.message[:1024])
    return result.error.kind
