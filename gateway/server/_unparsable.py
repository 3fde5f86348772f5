r"""Answer stdio messages that fail to parse, as the streamable-HTTP transport does.

The SDK's stdio server hands a line it cannot parse (`"\ud800"`, which Node's `JSON.stringify`
produces; `"jsonrpc": "1.0"`; an id without a method) to the session as an exception, which logs it
and answers nothing: the client waits forever. `AnsweringReadStream` sits between the transport and
the server: it answers each such line with the JSON-RPC error (`-32700` parse error when the text
is not JSON the SDK accepts, `-32600` invalid request when it is JSON of the wrong shape), carrying
the request's `id` whenever one can be read from the line, so the client's request fails at once.
"""

from __future__ import annotations

import json
import logging
from typing import Any, cast

import anyio
from mcp.shared._stream_protocols import ReadStream, WriteStream
from mcp.shared.message import SessionMessage
from mcp_types import INVALID_REQUEST, PARSE_ERROR, ErrorData, JSONRPCError
from pydantic import ValidationError

from gateway.streams import ReadStreamWrapper

__all__ = ["AnsweringReadStream", "error_for"]

logger = logging.getLogger(__name__)

_MAX_ID_CHARS = 200
"""An id longer than this is not echoed back (it would let a client make us write what it chose)."""
_MAX_DETAIL_CHARS = 200


def _request_id(candidate: object) -> int | str | None:
    """The JSON-RPC `id` of a decoded message, when it has a usable one."""
    if not isinstance(candidate, dict):
        return None
    message = cast("dict[object, object]", candidate)
    value = message.get("id")
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and abs(value) < 2**63:
        return value
    if isinstance(value, str) and len(value) <= _MAX_ID_CHARS:
        return value.encode("utf-8", "replace").decode("utf-8")  # no lone surrogate goes back out
    return None


def error_for(exc: Exception) -> JSONRPCError | None:
    """The JSON-RPC error answering the line that raised `exc` in the SDK's parser, or None."""
    if not isinstance(exc, ValidationError):
        return None
    errors = exc.errors()
    first = errors[0] if errors else None
    if first is not None and first["type"] in ("json_invalid", "string_unicode") and isinstance(first["input"], str):
        # Not JSON the SDK's parser accepts. Python's is more lenient (lone surrogates): the id may still be there.
        try:
            lenient: Any = json.loads(first["input"])
        except (ValueError, RecursionError):
            lenient = None
        detail = f"Parse error: {first['msg'][:_MAX_DETAIL_CHARS]}"
        return JSONRPCError(jsonrpc="2.0", id=_request_id(lenient), error=ErrorData(code=PARSE_ERROR, message=detail))
    # JSON of the wrong shape: the union's errors carry the decoded object; the first with an id answers.
    ids = (_request_id(error["input"]) for error in errors)
    request_id = next((each for each in ids if each is not None), None)
    detail = "Invalid request: not a JSON-RPC 2.0 request, notification or response"
    return JSONRPCError(jsonrpc="2.0", id=request_id, error=ErrorData(code=INVALID_REQUEST, message=detail))


class AnsweringReadStream(ReadStreamWrapper):
    """The transport's read stream, minus the lines that failed to parse: those are answered on `write`."""

    def __init__(self, inner: ReadStream[SessionMessage | Exception], write: WriteStream[SessionMessage]) -> None:
        super().__init__(inner)
        self._write = write

    async def receive(self) -> SessionMessage | Exception:
        while True:
            item = await self._inner.receive()
            if not isinstance(item, Exception):
                return item
            answer = error_for(item)
            if answer is None:
                return item  # not a parse failure: the session decides
            logger.warning("answered an unparsable message from the client: %s", answer.error.message)
            try:
                await self._write.send(SessionMessage(answer))
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                raise anyio.EndOfStream from None
