"""A stdio server's stderr: relayed to our log line by line, with a short tail kept for errors.

The SDK hands a child's stderr to a file we choose. We give it the write end of a pipe and read
the other end without threads (`anyio.wait_readable`), so a server that dies at start-up can be
reported with what it said ("/tmp is not a valid Git repository") instead of a bare
"connection closed".
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections import deque
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TextIO

import anyio

__all__ = ["StderrTail", "relay_stderr"]

logger = logging.getLogger(__name__)

TAIL_LINES = 8
"""How many of the last stderr lines an error message quotes."""
_MAX_LINE_CHARS = 500
_MAX_LINE_BYTES = 16 * 1024
"""Bytes of one line kept for the log; the rest of a longer line is counted, never held."""
_READ_CHUNK_BYTES = 65536
_DRAIN_GRACE_S = 1.0
"""After the child is gone, how long we keep reading what is left in the pipe."""


@dataclass(slots=True)
class StderrTail:
    """The last lines a child wrote to stderr."""

    lines: deque[str] = field(default_factory=lambda: deque[str](maxlen=TAIL_LINES))

    def describe(self) -> str:
        """The tail as one string for an error message ("" when the child said nothing)."""
        return " | ".join(self.lines)


@asynccontextmanager
async def relay_stderr(server: str) -> AsyncGenerator[tuple[TextIO, StderrTail], None]:
    """Yield a file for the child's stderr and the tail being collected from it."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    tail = StderrTail()
    done = anyio.Event()

    def emit(raw: bytes | bytearray, dropped: int) -> None:
        line = raw.decode("utf-8", errors="replace").rstrip()
        cut = f" [... {dropped} more bytes dropped]" if dropped else ""
        if line or cut:
            tail.lines.append(line[:_MAX_LINE_CHARS] + cut)
            logger.info("[%s] %s%s", server, line, cut)

    async def pump() -> None:
        # A server's stderr is its word: a line without end is kept up to `_MAX_LINE_BYTES`, the rest
        # only counted (one growing buffer, re-split on every read, made a 64 MB line cost 200 MB and
        # tens of seconds on the event loop).
        buffer = bytearray()
        dropped = 0
        try:
            while True:
                await anyio.wait_readable(read_fd)
                try:
                    chunk = os.read(read_fd, _READ_CHUNK_BYTES)
                except BlockingIOError:
                    continue
                if not chunk:
                    break
                start = 0
                while True:
                    newline = chunk.find(b"\n", start)
                    piece = chunk[start:] if newline < 0 else chunk[start:newline]
                    room = max(_MAX_LINE_BYTES - len(buffer), 0)
                    buffer += piece[:room]
                    dropped += max(len(piece) - room, 0)
                    if newline < 0:
                        break
                    emit(buffer, dropped)
                    buffer.clear()
                    dropped = 0
                    start = newline + 1
        finally:
            if buffer or dropped:
                emit(buffer, dropped)
            done.set()

    errlog = os.fdopen(write_fd, "w", encoding="utf-8")  # an fd, not a path: no blocking I/O; closed below
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(pump)
            try:
                yield errlog, tail
            finally:
                # Our copy of the write end goes first; the pipe reports EOF once the child's copy
                # is gone too. A grandchild that kept it open cannot hold us past the grace period.
                errlog.close()
                with anyio.CancelScope(shield=True), anyio.move_on_after(_DRAIN_GRACE_S):
                    await done.wait()
                tg.cancel_scope.cancel()
    finally:
        errlog.close()
        with contextlib.suppress(OSError):
            os.close(read_fd)
