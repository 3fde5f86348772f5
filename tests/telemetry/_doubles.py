"""Seam doubles for the parts that are not under test here (never used as defaults)."""

from __future__ import annotations

import anyio

from gateway.sandbox import BaseSandbox, BaseSandboxBackend, SandboxInfo


class IdleSandbox(BaseSandbox):
    """A sandbox whose runner never says anything: only its `info` matters to tracing."""

    def __init__(self, info: SandboxInfo) -> None:
        self.info = info

    async def send(self, data: bytes) -> None:
        return None

    async def receive(self, max_bytes: int = 65536) -> bytes:
        raise anyio.EndOfStream

    async def diagnostics(self) -> str:
        return ""

    async def exit_status(self) -> int | None:
        return 0

    async def aclose(self) -> None:
        return None


class PoolBackend(BaseSandboxBackend):
    """Hands out warm sandboxes while its pretend pool lasts, then cold ones."""

    name = "test-pool"

    def __init__(self, pool: int) -> None:
        self.pool = pool
        self.count = 0

    @property
    def pool_ready(self) -> int:
        return self.pool

    async def acquire(self) -> BaseSandbox:
        self.count += 1
        warm = self.pool > 0
        self.pool -= 1 if warm else 0
        return IdleSandbox(
            SandboxInfo(
                backend=self.name,
                id=f"sb-{self.count}",
                start="warm" if warm else "cold",
                start_duration_s=0.002 if warm else 0.4,
            )
        )

    async def aclose(self) -> None:
        return None
