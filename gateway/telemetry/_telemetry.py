"""`Telemetry`: the one context object every traced wrapper receives (no global state of our own)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, NoOpMeterProvider, Observation
from opentelemetry.trace import NoOpTracerProvider, Tracer, TracerProvider

from gateway.telemetry import _names as n

__all__ = ["CAPTURE_MAX_CHARS", "CaptureSettings", "Telemetry"]

INSTRUMENTATION_NAME = "ptc-gateway"
CAPTURE_MAX_CHARS = 4096
"""Default cap on one captured value (characters)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptureSettings:
    """Whether span attributes may carry content (tool arguments and results, model code).

    Off by default: arguments and results can hold personal data and secrets. When on, each
    captured value is serialised to JSON and cut to `max_chars` characters.
    """

    content: bool = False
    max_chars: int = CAPTURE_MAX_CHARS

    def render(self, value: object) -> str | None:
        """The capped JSON text of `value`, or None when capture is off."""
        if not self.content:
            return None
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=repr)
        if len(text) <= self.max_chars:
            return text
        return f"{text[: self.max_chars]}…[truncated {len(text) - self.max_chars} chars]"


@dataclass(slots=True)
class _PoolGauges:
    """Pool-size readers registered by traced sandbox backends; read by one observable gauge."""

    readers: dict[str, Callable[[], int]] = field(default_factory=dict[str, Callable[[], int]])
    lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        with self.lock:
            readers = list(self.readers.items())
        return [Observation(read(), {n.PTC_SANDBOX_BACKEND: backend}) for backend, read in readers]


class Telemetry:
    """Tracer, instruments and capture policy, handed to every traced wrapper.

    Build it with `setup_telemetry()` (from the `OTEL_*` environment) or, in tests, directly
    from SDK providers. `Telemetry.disabled()` costs one attribute check per call: every wrapper
    tests `enabled` first and goes straight to the wrapped object when it is False.
    """

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        capture: CaptureSettings | None = None,
        on_shutdown: Sequence[Callable[[], object]] = (),
    ) -> None:
        self.enabled = tracer_provider is not None or meter_provider is not None
        """False when neither traces nor metrics are configured: wrappers then do nothing."""
        self.capture = capture or CaptureSettings()
        self.tracer: Tracer = (tracer_provider or NoOpTracerProvider()).get_tracer(INSTRUMENTATION_NAME)
        meter: Meter = (meter_provider or NoOpMeterProvider()).get_meter(INSTRUMENTATION_NAME)
        self.meter = meter
        """For entry points that add their own instruments (the proxy)."""
        self._on_shutdown = tuple(on_shutdown)
        self._pools = _PoolGauges()

        durations = list(n.DURATION_BUCKETS_S)
        self.mcp_client_duration = meter.create_histogram(
            n.METRIC_MCP_CLIENT_DURATION,
            unit="s",
            description="Duration of MCP requests the gateway sent to upstream servers.",
            explicit_bucket_boundaries_advisory=durations,
        )
        self.mcp_server_duration = meter.create_histogram(
            n.METRIC_MCP_SERVER_DURATION,
            unit="s",
            description="Duration of MCP requests the gateway served to its clients.",
            explicit_bucket_boundaries_advisory=durations,
        )
        self.sandbox_start_duration = meter.create_histogram(
            n.METRIC_SANDBOX_START_DURATION,
            unit="s",
            description="Time an execution waited for its sandbox, by warm (pooled) or cold start.",
            explicit_bucket_boundaries_advisory=durations,
        )
        meter.create_observable_gauge(
            n.METRIC_SANDBOX_POOL_SIZE,
            callbacks=[self._pools.observe],
            unit="{sandbox}",
            description="Idle pre-started sandboxes in the warm pool.",
        )
        self.executions = meter.create_counter(
            n.METRIC_EXECUTIONS, unit="{execution}", description="Code executions, by outcome."
        )
        self.execution_duration = meter.create_histogram(
            n.METRIC_EXECUTION_DURATION,
            unit="s",
            description="Wall-clock duration of one code execution, sandbox start included.",
            explicit_bucket_boundaries_advisory=durations,
        )
        self.execution_tool_calls = meter.create_histogram(
            n.METRIC_EXECUTION_TOOL_CALLS,
            unit="{call}",
            description="Tool calls completed by one code execution.",
            explicit_bucket_boundaries_advisory=[float(b) for b in n.TOOL_CALL_BUCKETS],
        )
        self.gen_ai_token_usage = meter.create_histogram(
            n.METRIC_GEN_AI_TOKEN_USAGE,
            unit="{token}",
            description="Tokens used per model request, by input/output.",
            explicit_bucket_boundaries_advisory=[float(b) for b in n.TOKEN_BUCKETS],
        )
        self.gen_ai_duration = meter.create_histogram(
            n.METRIC_GEN_AI_DURATION,
            unit="s",
            description="Duration of model requests.",
            explicit_bucket_boundaries_advisory=durations,
        )

    @classmethod
    def disabled(cls) -> Telemetry:
        """Telemetry that records nothing (the default when no `OTEL_*` exporter is configured)."""
        return cls()

    def observe_pool_size(self, backend: str, read: Callable[[], int]) -> Callable[[], None]:
        """Report `read()` as the warm pool size of `backend`; returns a function that stops it."""
        with self._pools.lock:
            self._pools.readers[backend] = read

        def stop() -> None:
            with self._pools.lock:
                if self._pools.readers.get(backend) is read:
                    del self._pools.readers[backend]

        return stop

    def shutdown(self) -> None:
        """Flush and stop the exporters this telemetry owns. Idempotent."""
        hooks, self._on_shutdown = self._on_shutdown, ()
        for hook in hooks:
            hook()
