"""Our stdio client transport: the SDK's, with every message from the server bounded.

The SDK's `stdio_client` reads the child's stdout as text and grows a line until its newline comes:
a server that answers with 50 MB holds the gateway's memory and event loop for the whole line
(tens of seconds, hundreds of MB), and one byte that is not UTF-8 ends the connection. This one
reads bytes, and:

- a line longer than `max_message_bytes` is never held: past the limit its bytes are counted and
  dropped until its newline, and the request it answers (its `id`, read from the line's first or
  last bytes) gets a JSON-RPC error naming the limit at once. The connection stays in sync, so the
  server keeps serving later calls;
- a line that is not JSON-RPC (garbage, invalid UTF-8) is handed on as an exception (logged) and
  skipped, as the SDK does for invalid JSON;
- big lines within the limit are parsed in a worker thread, not on the event loop.

Process handling follows the SDK (and the MCP spec's shutdown sequence): the child runs in its own
session; on exit its stdin is closed, it gets `PROCESS_TERMINATION_S` to exit, then its process
group gets SIGTERM and, after `FORCE_KILL_S`, SIGKILL; all under a cancellation shield.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager, suppress
from typing import TextIO

import anyio
import anyio.abc
import anyio.to_thread
import mcp_types as types
from mcp.client._transport import TransportStreams
from mcp.client.stdio import get_default_environment
from mcp.os.posix.utilities import terminate_posix_process_tree
from mcp.shared.message import SessionMessage
from mcp_types import INTERNAL_ERROR, ErrorData, JSONRPCError

from gateway.config import StdioServerConfig

__all__ = ["MESSAGE_TOO_LARGE", "stdio_transport"]

logger = logging.getLogger(__name__)

MESSAGE_TOO_LARGE = INTERNAL_ERROR
"""JSON-RPC error code of the error we answer in the server's place when its message was too large
(not -32001, which MCP clients read as their own request timeout)."""
PROCESS_TERMINATION_S = 2.0
"""After stdin closes, how long the child may take to exit on its own."""
FORCE_KILL_S = 2.0
"""After SIGTERM to the child's process group, how long before SIGKILL."""
_KILL_REAP_S = 2.0
_EXIT_POLL_S = 0.01
_READ_CHUNK_BYTES = 65536
_THREAD_PARSE_BYTES = 256 * 1024
"""Lines at least this long are parsed in a worker thread."""
_EDGE_BYTES = 256
"""Bytes kept from each end of an oversized line, to find the id of the request it answers."""

_HEAD_ID = re.compile(rb'^\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*(-?\d{1,18}|"[^"\\]{0,200}")\s*[,}]')
_TAIL_ID = re.compile(rb'[,{]\s*"id"\s*:\s*(-?\d{1,18}|"[^"\\]{0,200}")\s*(?:,\s*"jsonrpc"\s*:\s*"2\.0"\s*)?\}\s*$')


class _Oversized:
    """A line past the limit: only its size and its two ends are kept."""

    def __init__(self, kept: bytearray, more: bytes) -> None:
        self.head = (bytes(kept[:_EDGE_BYTES]) + more[:_EDGE_BYTES])[:_EDGE_BYTES]
        self.tail = bytes(kept[-_EDGE_BYTES:])
        self.size = len(kept)
        self.add(more)

    def add(self, data: bytes) -> None:
        self.size += len(data)
        self.tail = (self.tail + data)[-_EDGE_BYTES:]

    def request_id(self) -> int | str | None:
        """The id of the response this line was (top-level `id` at either end), if it can be told."""
        match = _HEAD_ID.match(self.head) or _TAIL_ID.search(self.tail)
        if match is None:
            return None
        raw = match.group(1)
        return raw[1:-1].decode("utf-8", "replace") if raw.startswith(b'"') else int(raw)


def _parse(line: bytes) -> SessionMessage | Exception:
    try:
        return SessionMessage(types.jsonrpc_message_adapter.validate_json(line, by_name=False))
    except ValueError as exc:  # pydantic's ValidationError: not JSON, not UTF-8, not JSON-RPC
        return exc


@asynccontextmanager
async def stdio_transport(
    config: StdioServerConfig, *, errlog: TextIO, server: str
) -> AsyncGenerator[TransportStreams, None]:
    """Start `config`'s command and speak newline-delimited JSON-RPC with it over its stdio.

    Raises:
        OSError: the command could not be started (FileNotFoundError when it does not exist).
    """
    limit = config.max_message_bytes
    process = await anyio.open_process(
        [config.command, *config.args],
        env=get_default_environment() | config.env,
        stderr=errlog,
        cwd=config.cwd,
        start_new_session=True,
    )
    read_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_stream, write_reader = anyio.create_memory_object_stream[SessionMessage](0)
    delivering = True

    async def deliver(item: SessionMessage | Exception) -> None:
        nonlocal delivering
        if not delivering:
            return
        try:
            await read_writer.send(item)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            delivering = False  # the session is gone: keep draining the pipe, drop what comes

    async def line_done(line: bytes) -> None:
        if not line.strip():
            return
        if len(line) >= _THREAD_PARSE_BYTES:
            item = await anyio.to_thread.run_sync(_parse, line)
        else:
            item = _parse(line)
        if isinstance(item, Exception):
            logger.warning("server %r wrote a line that is not JSON-RPC (%d bytes); skipped", server, len(line))
        await deliver(item)

    async def oversized_done(dropped: _Oversized) -> None:
        request_id = dropped.request_id()
        text = (
            f"server {server!r} sent a message of {dropped.size} bytes, over its limit of {limit} bytes "
            f"(max_message_bytes); it was dropped unread"
        )
        logger.warning("%s (answering request %r)", text, request_id)
        if request_id is None:
            await deliver(ValueError(text))
            return
        error = JSONRPCError(jsonrpc="2.0", id=request_id, error=ErrorData(code=MESSAGE_TOO_LARGE, message=text))
        await deliver(SessionMessage(error))

    async def stdout_reader() -> None:
        assert process.stdout is not None
        buffer = bytearray()
        dropping: _Oversized | None = None
        try:
            async with read_writer:
                while True:
                    chunk = await process.stdout.receive(_READ_CHUNK_BYTES)
                    start = 0
                    while start <= len(chunk):
                        newline = chunk.find(b"\n", start)
                        piece = chunk[start:] if newline < 0 else chunk[start:newline]
                        if dropping is not None:
                            dropping.add(piece)
                        elif len(buffer) + len(piece) > limit:
                            dropping = _Oversized(buffer, piece)
                            buffer.clear()
                        else:
                            buffer += piece
                        if newline < 0:
                            break
                        if dropping is not None:
                            await oversized_done(dropping)
                            dropping = None
                        else:
                            line = bytes(buffer)
                            buffer.clear()
                            await line_done(line)
                        start = newline + 1
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            pass

    async def stdin_writer() -> None:
        assert process.stdin is not None
        try:
            async with write_reader:
                async for message in write_reader:
                    data = message.message.model_dump_json(by_alias=True, exclude_unset=True) + "\n"
                    await process.stdin.send(data.encode("utf-8"))
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            # The child stopped reading: end the session's read stream so no request waits forever.
            await read_writer.aclose()

    async with anyio.create_task_group() as tg:
        tg.start_soon(stdout_reader)
        tg.start_soon(stdin_writer)
        try:
            yield read_stream, write_stream
        finally:
            with anyio.CancelScope(shield=True):
                read_stream.close()
                write_stream.close()
                await _stop(process)
            tg.cancel_scope.cancel()


async def _stop(process: anyio.abc.Process) -> None:
    """Close stdin, wait `PROCESS_TERMINATION_S`, then SIGTERM and SIGKILL the process group."""
    if process.stdin is not None:
        with suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            await process.stdin.aclose()
    if not await _exited(process, PROCESS_TERMINATION_S):
        await terminate_posix_process_tree(process, FORCE_KILL_S)
        if not await _exited(process, _KILL_REAP_S):
            logger.warning("MCP server process %d is still alive after SIGKILL; abandoning it", process.pid)
    if process.stdout is not None:
        with suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            await process.stdout.aclose()
    if process.returncode is not None:  # else `aclose` would wait for it forever
        with suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            await process.aclose()


async def _exited(process: anyio.abc.Process, timeout_s: float) -> bool:
    """Whether the process exited within `timeout_s` (polled: `wait()` would also wait for pipe EOF)."""
    deadline = anyio.current_time() + timeout_s
    while process.returncode is None:
        if anyio.current_time() >= deadline:
            return False
        await anyio.sleep(_EXIT_POLL_S)
    return True
