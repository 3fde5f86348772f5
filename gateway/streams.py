"""`ReadStreamWrapper`: the plumbing of a wrapper around an MCP SDK transport's read stream.

The SDK's sessions read a transport through its `ReadStream` protocol (`receive`, `aclose`, async
iteration, async context, and the optional `last_context` of context-propagating streams). Our
wrappers (the upstream transport's close watcher, the stdio server's unparsable-line answerer)
change only `receive`; this base class carries the rest.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

import anyio
from mcp.shared._stream_protocols import ReadStream
from mcp.shared.message import SessionMessage

__all__ = ["ReadStreamWrapper"]


class ReadStreamWrapper:
    """Delegates to `inner`; subclasses override `receive`. Iteration ends at EOF or close."""

    def __init__(self, inner: ReadStream[SessionMessage | Exception]) -> None:
        self._inner = inner

    @property
    def last_context(self) -> object:
        """The sender's context, forwarded for the SDK's context-propagating streams."""
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> SessionMessage | Exception:
        """The next message (or parse failure) from the transport."""
        return await self._inner.receive()

    async def aclose(self) -> None:
        """Close the inner stream."""
        await self._inner.aclose()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        try:
            return await self.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc_val: BaseException | None, exc_tb: TracebackType | None
    ) -> bool | None:
        await self.aclose()
        return None
