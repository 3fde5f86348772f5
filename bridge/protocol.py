r"""The bridge wire protocol, shared by the host and the runner inside the sandbox.

Stdlib only; must import on any CPython >= 3.10. Never imports `gateway`.

Framing
-------
Every message is one frame::

    #PTC <version> <nonce> <length>\n<length bytes of UTF-8 JSON>\n

- ``version`` is `PROTOCOL_VERSION` (an integer). A peer refuses other versions.
- ``nonce`` is 32 lowercase hex characters chosen by the host for each execution and sent in the
  ``job`` frame's header; every later frame in either direction must carry it. The ``hello`` frame
  the runner sends before it has a job carries `HELLO_NONCE`.
- ``length`` is the decimal byte length of the JSON body. A reader checks it against its maximum
  frame size *before* reading the body, so an oversized frame costs nothing to refuse.

Channels: host -> runner frames travel on the container's stdin; runner -> host frames on the
container's stdout. The runner moves user output (``print``, ``sys.stderr``, subprocesses writing
to fd 1/2) onto pipes of its own and forwards it inside ``output`` frames, so nothing the model's
code writes is ever parsed as a frame. The host still treats every byte from the sandbox as
untrusted: it validates shape, size, nonce, tool ids and call counts (see docs/protocol.md).

Messages (JSON objects with a ``type`` key)
--------------------------------------------
runner -> host:
    hello   {"type": "hello", "protocol": 1, "python": "3.11.7"}
    started {"type": "started"}            (the stubs loaded; the user code starts now)
    call    {"type": "call", "id": 7, "tool": "expenses/get_team_members", "arguments": {...}}
    output  {"type": "output", "stream": "stdout"|"stderr", "data": "..."}
    done    {"type": "done", "ok": true, "tool_calls": 3,
             "stdout_dropped": 0, "stderr_dropped": 0}
            {"type": "done", "ok": false, "tool_calls": 3, "error": {"type": "ValueError",
             "message": "...", "traceback": "...", "lineno": 4}, ...}
host -> runner:
    job     {"type": "job", "code": "...", "stubs": "<module source>",
             "namespaces": [{"name": "expenses", "doc": "...", "tools": [{"name": "get_team_members",
             "id": "expenses/get_team_members", "params": {"department": "department"}}]}],
             "limits": {"max_output_bytes": 65536, "max_frame_bytes": 4194304}, "helpers": false}
    result  {"type": "result", "id": 7, "ok": true, "kind": "json"|"text"|"content", "value": ...}
            {"type": "result", "id": 7, "ok": false, "error": {"type": "ToolError", "message": "..."}}
"""

from __future__ import annotations

import json
import os
import sys

if sys.version_info >= (3, 11):  # pragma: no cover - version dependent
    from typing import Any, Literal, NotRequired, TypedDict
else:  # pragma: no cover - version dependent
    from typing import Any, Literal, TypedDict

    NotRequired = Any  # only used in annotations, which are postponed

__all__ = [
    "DEFAULT_MAX_FRAME_BYTES",
    "HELLO_NONCE",
    "PROTOCOL_VERSION",
    "STUB_ERROR",
    "TOOL_ERROR",
    "CallMessage",
    "DoneMessage",
    "ErrorInfo",
    "FrameDecoder",
    "FrameError",
    "HelloMessage",
    "JobLimits",
    "JobMessage",
    "NamespaceSpec",
    "OutputMessage",
    "ResultMessage",
    "StartedMessage",
    "ToolEntry",
    "encode_frame",
    "new_nonce",
]

PROTOCOL_VERSION = 1
HELLO_NONCE = "0" * 32
DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024
TOOL_ERROR = "ToolError"
"""Error type of a failed tool call: in a `result` frame, and the exception class the code sees."""
STUB_ERROR = "StubError"
"""`done.error.type` when the runner could not load the stub module (sent before `started`)."""
_MAGIC = b"#PTC"
_MAX_HEADER_BYTES = 64


class FrameError(Exception):
    """A frame could not be decoded: bad header, wrong version, bad nonce, too large, bad JSON.

    `frames` holds the good frames the same `FrameDecoder.feed` call completed before the bad one
    (in order): a reader handles them first, then the error.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.frames: list[tuple[str, dict[str, Any]]] = []


class ErrorInfo(TypedDict):
    """An exception as it crosses the wire."""

    type: str
    message: str
    traceback: NotRequired[str]
    lineno: NotRequired[int]


class HelloMessage(TypedDict):
    """Runner is up and waiting for its job."""

    type: Literal["hello"]
    protocol: int
    python: str


class ToolEntry(TypedDict):
    """One tool as the runner installs it on its namespace."""

    name: str
    """The sanitized Python name."""
    id: str
    """Opaque id the host maps back to (server, original tool name)."""
    params: dict[str, str]
    """Sanitized Python parameter name -> original argument name."""


class _NamespaceRequired(TypedDict):
    name: str
    doc: str
    tools: list[ToolEntry]


class NamespaceSpec(_NamespaceRequired, total=False):
    """One server namespace: a global object whose attributes are the tools."""

    unavailable: str
    """Set for a configured server that is not up (still starting, or failed): the namespace has no
    tools and calling any attribute raises `ToolError` with this text, instead of a `NameError`."""


class JobLimits(TypedDict, total=False):
    """Limits the runner enforces on its own side (the host enforces its own, independently)."""

    max_output_bytes: int
    """Per stream: output past this is counted and dropped, not forwarded."""
    max_frame_bytes: int
    """The host's frame limit: the runner refuses to send a bigger `call` (the code gets a ValueError)."""


class JobMessage(TypedDict):
    """Host -> runner: what to run."""

    type: Literal["job"]
    code: str
    stubs: str
    namespaces: list[NamespaceSpec]
    limits: JobLimits
    helpers: bool
    """Install the discovery helpers (`search_tools`) for compact-index prompts."""


class StartedMessage(TypedDict):
    """Runner -> host: the job's stubs are installed and the user code starts now."""

    type: Literal["started"]


class CallMessage(TypedDict):
    """Runner -> host: call a tool."""

    type: Literal["call"]
    id: int
    tool: str
    arguments: dict[str, Any]


class ResultMessage(TypedDict):
    """Host -> runner: the outcome of one call."""

    type: Literal["result"]
    id: int
    ok: bool
    kind: NotRequired[Literal["json", "text", "content"]]
    value: NotRequired[Any]
    error: NotRequired[ErrorInfo]


class OutputMessage(TypedDict):
    """Runner -> host: a chunk of the user's stdout or stderr."""

    type: Literal["output"]
    stream: Literal["stdout", "stderr"]
    data: str


class DoneMessage(TypedDict):
    """Runner -> host: the code finished (successfully or with an exception)."""

    type: Literal["done"]
    ok: bool
    tool_calls: int
    stdout_dropped: int
    stderr_dropped: int
    error: NotRequired[ErrorInfo]


def new_nonce() -> str:
    """A fresh per-execution nonce (32 hex characters)."""
    return os.urandom(16).hex()


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
"""One stateless encoder for every frame (`json.dumps` with options builds a new one per call)."""


def encode_frame(nonce: str, message: Any) -> bytes:
    """Encode one message as a frame."""
    body = _ENCODER.encode(message).encode("utf-8")
    header = b"%s %d %s %d\n" % (_MAGIC, PROTOCOL_VERSION, nonce.encode("ascii"), len(body))
    return header + body + b"\n"


class FrameDecoder:
    """Incremental decoder: feed it bytes as they arrive, get complete messages back.

    Once it has raised `FrameError` the stream is unusable; the caller ends the execution.
    """

    def __init__(self, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES, nonce: str | None = None) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._buffer = bytearray()
        self._body_length: int | None = None
        self._frame_nonce = ""
        self._prefix = b""
        self.nonce = nonce

    @property
    def nonce(self) -> str | None:
        """Expected nonce; `None` accepts any well-formed nonce (the runner before its job)."""
        return self._nonce

    @nonce.setter
    def nonce(self, value: str | None) -> None:
        self._nonce = value
        # The exact header start a good frame has: the common case skips the field-by-field checks.
        self._prefix = b"" if value is None else b"%s %d %s " % (_MAGIC, PROTOCOL_VERSION, value.encode("ascii"))

    @property
    def buffered(self) -> int:
        """Bytes held that do not yet form a complete frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[tuple[str, dict[str, Any]]]:
        """Add bytes; return the (nonce, message) pairs completed by them, in order.

        Raises `FrameError` (carrying the frames completed before the bad one) on a bad frame.
        """
        self._buffer += data
        frames: list[tuple[str, dict[str, Any]]] = []
        try:
            self._decode(frames)
        except FrameError as e:
            e.frames = frames
            raise
        return frames

    def _decode(self, frames: list[tuple[str, dict[str, Any]]]) -> None:
        while True:
            if self._body_length is None:
                newline = self._buffer.find(b"\n", 0, _MAX_HEADER_BYTES + 1)
                if newline < 0:
                    if len(self._buffer) > _MAX_HEADER_BYTES:
                        raise FrameError(f"no frame header in the first {_MAX_HEADER_BYTES} bytes")
                    return
                self._parse_header(bytes(self._buffer[:newline]))
                del self._buffer[: newline + 1]
            assert self._body_length is not None
            if len(self._buffer) < self._body_length + 1:
                return
            body = bytes(self._buffer[: self._body_length])
            if self._buffer[self._body_length] != 0x0A:
                raise FrameError("frame body is not followed by a newline")
            del self._buffer[: self._body_length + 1]
            self._body_length = None
            frames.append((self._frame_nonce, _parse_body(body)))

    def _parse_header(self, header: bytes) -> None:
        prefix = self._prefix
        if prefix and header.startswith(prefix):
            length = header[len(prefix) :]
            if length.isdigit() and len(length) <= 12 and int(length) <= self.max_frame_bytes:
                self._body_length = int(length)
                self._frame_nonce = self._nonce or ""
                return
        # Not the expected header, or a bad length: the checks below say exactly what is wrong.
        parts = header.split(b" ")
        if len(parts) != 4 or parts[0] != _MAGIC:
            raise FrameError(f"malformed frame header {header[:_MAX_HEADER_BYTES]!r}")
        _, version, nonce, length = parts
        if version != str(PROTOCOL_VERSION).encode():
            raise FrameError(f"protocol version {version.decode('ascii', 'replace')!r} is not {PROTOCOL_VERSION}")
        nonce_text = nonce.decode("ascii", "replace")
        if len(nonce_text) != 32 or any(c not in "0123456789abcdef" for c in nonce_text):
            raise FrameError("malformed nonce in frame header")
        if self._nonce is not None and nonce_text != self._nonce:
            raise FrameError("frame carries the wrong nonce (forged or stale frame)")
        if not length.isdigit() or len(length) > 12:
            raise FrameError("malformed frame length")
        size = int(length)
        if size > self.max_frame_bytes:
            raise FrameError(f"frame of {size} bytes exceeds the {self.max_frame_bytes}-byte limit")
        self._body_length = size
        self._frame_nonce = nonce_text


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
"""Strict JSON: NaN and Infinity, which `json.loads` accepts, are refused like any other non-JSON."""


def _parse_body(body: bytes) -> dict[str, Any]:
    try:
        message = _DECODER.decode(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:  # RecursionError: nested too deep
        raise FrameError(f"frame body is not valid JSON: {e}") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):  # pyright: ignore[reportUnknownMemberType]
        raise FrameError("frame body is not an object with a string 'type'")
    return message  # pyright: ignore[reportUnknownVariableType]
