"""`TracedSandboxBackend`: a span and a start-duration sample per sandbox acquired."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, Self, runtime_checkable

import anyio
from opentelemetry.trace import StatusCode

from gateway.sandbox import BaseSandbox, BaseSandboxBackend
from gateway.telemetry import _names as n
from gateway.telemetry._telemetry import Telemetry

__all__ = ["SupportsPoolReady", "TracedSandboxBackend"]


@runtime_checkable
class SupportsPoolReady(Protocol):
    """A backend with a warm pool says how many started sandboxes are waiting (Docker does)."""

    @property
    def pool_ready(self) -> int:
        """Started sandboxes waiting in the pool."""
        ...


class TracedSandboxBackend(BaseSandboxBackend):
    """Wraps a sandbox backend: `acquire` becomes a `sandbox.acquire` span.

    The span carries the backend, the sandbox id, and whether it was `warm` (from the pool) or
    `cold` (started for this execution); `ptc.sandbox.start.duration` records the wait by the same
    split. The `ptc.sandbox.pool.size` gauge reads `pool_size()` (a cheap, thread-safe read), by
    default the backend's own `pool_ready` when it has one. Sandboxes are returned unwrapped.
    """

    def __init__(
        self, inner: BaseSandboxBackend, telemetry: Telemetry, *, pool_size: Callable[[], int] | None = None
    ) -> None:
        self.name = inner.name
        self._inner = inner
        self._telemetry = telemetry
        if pool_size is None and isinstance(inner, SupportsPoolReady):
            pool_size = _reader(inner)
        self._stop_gauge = telemetry.observe_pool_size(inner.name, pool_size) if pool_size is not None else None

    async def acquire(self) -> BaseSandbox:
        """Acquire from the wrapped backend inside a span."""
        telemetry = self._telemetry
        if not telemetry.enabled:
            return await self._inner.acquire()
        with telemetry.tracer.start_as_current_span(
            n.SPAN_SANDBOX_ACQUIRE,
            attributes={n.PTC_SANDBOX_BACKEND: self.name},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                sandbox = await self._inner.acquire()
            except anyio.get_cancelled_exc_class():
                span.set_attribute(n.ERROR_TYPE, "cancelled")
                span.set_status(StatusCode.ERROR, "cancelled")
                raise
            except Exception as e:  # recorded and re-raised unchanged
                span.set_attribute(n.ERROR_TYPE, type(e).__qualname__)
                span.record_exception(e)
                span.set_status(StatusCode.ERROR, str(e))
                raise
            info = sandbox.info
            span.set_attributes({n.PTC_SANDBOX_ID: info.id, n.PTC_SANDBOX_START: info.start})
            telemetry.sandbox_start_duration.record(
                info.start_duration_s, {n.PTC_SANDBOX_BACKEND: info.backend, n.PTC_SANDBOX_START: info.start}
            )
            return sandbox

    async def __aenter__(self) -> Self:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._stop_pool_gauge()
        await self._inner.__aexit__(*exc_info)

    async def aclose(self) -> None:
        """Stop the pool gauge and close the wrapped backend."""
        self._stop_pool_gauge()
        await self._inner.aclose()

    def _stop_pool_gauge(self) -> None:
        if self._stop_gauge is not None:
            self._stop_gauge()
            self._stop_gauge = None


def _reader(backend: SupportsPoolReady) -> Callable[[], int]:
    return lambda: backend.pool_ready
