"""The sandbox seam: a backend hands out fresh sandboxes; a sandbox is a byte pipe to the runner.

The executor only sees these two classes. Docker, the local-process test backend and AgentCore
live behind them. A sandbox is used for exactly one execution and never reused.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Self

import anyio

from bridge.protocol import HELLO_NONCE, PROTOCOL_VERSION, FrameDecoder, FrameError
from gateway.errors import SandboxUnavailableError

__all__ = ["HELLO_MAX_BYTES", "BaseSandbox", "BaseSandboxBackend", "SandboxInfo", "await_hello"]

HELLO_MAX_BYTES = 64 * 1024
"""Largest hello frame a backend accepts from a runner that has not started its job yet."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SandboxInfo:
    """What the executor (and tracing) may know about a sandbox."""

    backend: str
    """Backend name, e.g. "docker", "local-process"."""
    id: str
    """Backend-specific id (container id, pid, session id)."""
    start: Literal["warm", "cold"]
    """Whether it came from the warm pool or was started for this execution."""
    start_duration_s: float
    """Time the caller waited to get it."""


class BaseSandbox(ABC):
    """One started sandbox whose runner speaks the bridge protocol.

    `send` writes to the runner's protocol input (the container's stdin); `receive` returns the
    next chunk of its protocol output (the container's stdout) and raises `anyio.EndOfStream`
    when the runner is gone. `diagnostics` is whatever the runner wrote outside the protocol
    (the container's stderr: interpreter crashes, OOM messages), capped.
    """

    info: SandboxInfo

    @abstractmethod
    async def send(self, data: bytes) -> None:
        """Write bytes to the runner."""

    @abstractmethod
    async def receive(self, max_bytes: int = 65536) -> bytes:
        """Read the next chunk of protocol output; `anyio.EndOfStream` when it ends."""

    @abstractmethod
    async def diagnostics(self) -> str:
        """The runner's non-protocol output so far (capped), for error messages."""

    @abstractmethod
    async def exit_status(self) -> int | None:
        """The runner's exit code if it has exited, else None. Does not wait."""

    async def freeze(self) -> None:  # noqa: B027 - optional: a backend that cannot pause keeps running
        """Stop the code from running (no CPU, no progress) until `thaw`; used while a human is asked.

        Optional: the default does nothing, and the code keeps running (the execution's deadline
        still stands still, and the executor's hard cap on the total still holds).
        """

    async def thaw(self) -> None:  # noqa: B027 - optional, see `freeze`
        """Let a frozen sandbox run again."""

    @abstractmethod
    async def aclose(self) -> None:
        """Kill (never gracefully stop) and remove the sandbox. Idempotent; safe under cancellation."""


class BaseSandboxBackend(ABC):
    """Hands out fresh sandboxes; owns any warm pool and background tasks.

    Use it as `async with backend:`. Entering starts background work (a warm pool) where the
    backend has any; leaving calls `aclose`. Enter and leave in the same task.
    """

    name: str

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @abstractmethod
    async def acquire(self) -> BaseSandbox:
        """A fresh started sandbox whose runner has sent `hello` (the hello frame is consumed)."""

    @abstractmethod
    async def aclose(self) -> None:
        """Stop background work and remove every sandbox this backend still owns."""


async def await_hello(
    sandbox: BaseSandbox,
    *,
    describe_exit: Callable[[], Awaitable[str]] | None = None,
    protocol_fix: str = "",
) -> None:
    """Consume the runner's `hello` frame: exactly one frame, of our protocol version, and nothing after it.

    Every backend calls this once after starting a runner; the caller bounds the wait (`anyio.fail_after`).
    `describe_exit` says why the runner ended before its hello (default: its diagnostics); `protocol_fix`
    is appended to a protocol-version mismatch (how to get a runner of the right version).

    Raises:
        SandboxUnavailableError: the runner exited, sent something else, or speaks another protocol version.
    """
    decoder = FrameDecoder(max_frame_bytes=HELLO_MAX_BYTES, nonce=HELLO_NONCE)
    while True:
        try:
            data = await sandbox.receive()
        except anyio.EndOfStream:
            if describe_exit is not None:
                reason = await describe_exit()
            else:
                diagnostics = (await sandbox.diagnostics()).strip()[-2000:]
                reason = "the sandbox runner exited before it was ready" + (f": {diagnostics}" if diagnostics else "")
            raise SandboxUnavailableError(reason) from None
        try:
            frames = decoder.feed(data)
        except FrameError as e:
            raise SandboxUnavailableError(f"the sandbox runner did not start properly: {e}") from None
        if not frames:
            continue
        _, message = frames[0]
        if len(frames) > 1 or decoder.buffered or message.get("type") != "hello":
            kind = str(message.get("type"))[:64]
            raise SandboxUnavailableError(f"the sandbox runner sent {kind!r} instead of one hello")
        if message.get("protocol") != PROTOCOL_VERSION:
            version = str(message.get("protocol"))[:64]
            raise SandboxUnavailableError(
                f"the sandbox runner speaks protocol {version!r}, not {PROTOCOL_VERSION}"
                + (f"; {protocol_fix}" if protocol_fix else "")
            )
        return
