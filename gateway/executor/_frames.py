"""The frames the host accepts from the sandbox, as strict pydantic models (see docs/protocol.md).

Every frame from the sandbox is untrusted: after `bridge.protocol.FrameDecoder` has checked its
size and nonce and parsed its JSON, `parse_frame` checks its shape. Anything else (a `hello` or
`result` from the runner, an extra key, a wrong type) is refused with a message naming the field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic import JsonValue as PydanticJsonValue

__all__ = ["CallFrame", "DoneFrame", "ErrorInfoFrame", "OutputFrame", "SandboxFrame", "StartedFrame", "parse_frame"]

_MAX_TOOL_ID_CHARS = 1024
_MAX_CALL_ID = 2**53
_MAX_COUNT = 2**63
"""Counts and line numbers from the runner: any real value fits; a 4,000-digit one is refused."""


class Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class StartedFrame(Frame):
    type: Literal["started"]


class CallFrame(Frame):
    type: Literal["call"]
    id: int = Field(ge=0, le=_MAX_CALL_ID)
    tool: str = Field(max_length=_MAX_TOOL_ID_CHARS)
    arguments: dict[str, PydanticJsonValue]


class OutputFrame(Frame):
    type: Literal["output"]
    stream: Literal["stdout", "stderr"]
    data: str


class ErrorInfoFrame(Frame):
    type: str = Field(max_length=256)
    message: str
    traceback: str | None = None
    lineno: int | None = Field(default=None, ge=-_MAX_COUNT, le=_MAX_COUNT)


class DoneFrame(Frame):
    type: Literal["done"]
    ok: bool
    tool_calls: int = Field(ge=0, le=_MAX_COUNT)
    stdout_dropped: int = Field(ge=0, le=_MAX_COUNT)
    stderr_dropped: int = Field(ge=0, le=_MAX_COUNT)
    error: ErrorInfoFrame | None = None


SandboxFrame = Annotated[StartedFrame | CallFrame | OutputFrame | DoneFrame, Field(discriminator="type")]
FRAME_ADAPTER: TypeAdapter[StartedFrame | CallFrame | OutputFrame | DoneFrame] = TypeAdapter(SandboxFrame)


_CALL_KEYS = frozenset(CallFrame.model_fields)


def parse_frame(message: dict[str, Any]) -> SandboxFrame | str:
    """The frame `message` is, or why it is malformed (for the protocol-violation error)."""
    if message.keys() == _CALL_KEYS and message["type"] == "call":
        # The frame of every tool call, checked by hand: the same rules as `CallFrame` without
        # pydantic walking the arguments, which `json.loads` produced and so are JSON values with
        # string keys already. Anything unusual falls through to the model and its message.
        call_id, tool, arguments = message["id"], message["tool"], message["arguments"]
        if (
            type(call_id) is int
            and 0 <= call_id <= _MAX_CALL_ID
            and type(tool) is str
            and len(tool) <= _MAX_TOOL_ID_CHARS
            and type(arguments) is dict
        ):
            return CallFrame.model_construct(type="call", id=call_id, tool=tool, arguments=arguments)
    try:
        return FRAME_ADAPTER.validate_python(message)
    except ValidationError as e:
        first = e.errors()[0] if e.error_count() else None
        where = ".".join(str(part) for part in first["loc"]) if first else ""
        detail = f"{first['msg']} at {ascii(where[:200])}" if first else str(e)[:500]
        # ascii(): names from the sandbox are shown escaped, so a look-alike cannot pass for a real one.
        return f"malformed {ascii(str(message.get('type'))[:40])} frame: {detail}"
