"""Turn the user code's exception into an `ErrorInfo` whose traceback shows only the user's frames.

The code is compiled under the filename `CODE_FILENAME` and its source is registered with
`linecache`, so traceback lines show the model's own source at the model's own line numbers.
Frames of the runner (everything before the first frame of the code, and any bridge frame after
it, such as the tool wrapper that raised `ToolError`) are removed.

Stdlib only; must run on CPython >= 3.10.
"""

from __future__ import annotations

import linecache
import os
import traceback
from typing import Any

from bridge.protocol import ErrorInfo

__all__ = ["CODE_FILENAME", "STUBS_FILENAME", "error_info", "register_source"]

CODE_FILENAME = "<code>"
STUBS_FILENAME = "<stubs>"
MAX_MESSAGE_CHARS = 16 * 1024
MAX_TRACEBACK_CHARS = 64 * 1024

_BRIDGE_DIR = os.path.dirname(os.path.abspath(__file__))


def register_source(filename: str, source: str) -> None:
    """Let `linecache` (and so tracebacks) find the lines of in-memory source."""
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)


def _hidden(filename: str) -> bool:
    if filename == STUBS_FILENAME:
        return True
    if filename.startswith("<"):
        return False
    return os.path.dirname(os.path.abspath(filename)) == _BRIDGE_DIR


def _prune(te: traceback.TracebackException, seen: set[int]) -> None:
    if id(te) in seen:
        return
    seen.add(id(te))
    frames = list(te.stack)
    first = next((i for i, frame in enumerate(frames) if frame.filename == CODE_FILENAME), None)
    if first is not None:
        frames = frames[first:]
    te.stack = traceback.StackSummary.from_list([f for f in frames if not _hidden(f.filename)])
    for linked in (te.__cause__, te.__context__):
        if linked is not None:
            _prune(linked, seen)
    for member in getattr(te, "exceptions", None) or ():  # exception groups (3.11+)
        _prune(member, seen)


def _clip(text: str, limit: int) -> str:
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")  # no lone surrogates on the wire
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - limit} characters cut ...]\n{text[-half:]}"


def type_name(exc: BaseException) -> str:
    """`KeyError`, `ToolError`, or `module.Name` for exceptions defined outside builtins."""
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module in ("builtins", "__main__") else f"{module}.{cls.__qualname__}"


def error_info(exc: BaseException, *, max_frame_bytes: int | None = None) -> ErrorInfo:
    """The wire form of the code's exception, with the runner's frames removed.

    With `max_frame_bytes`, message and traceback are clipped so the ``done`` frame fits in it
    (JSON escaping grows text at most 6-fold).
    """
    message_limit, traceback_limit = MAX_MESSAGE_CHARS, MAX_TRACEBACK_CHARS
    if max_frame_bytes is not None:
        budget = max(64, (max_frame_bytes - 1024) // 6)
        message_limit = min(message_limit, budget // 4)
        traceback_limit = min(traceback_limit, budget - message_limit)
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001 - a user __str__ may raise anything; the report must still go out
        message = f"<unprintable {type(exc).__name__}>"
    info: ErrorInfo = {"type": type_name(exc), "message": _clip(message, message_limit)}
    lineno: Any = None
    if isinstance(exc, SyntaxError) and exc.filename == CODE_FILENAME:
        text = "".join(traceback.format_exception_only(type(exc), exc))
        lineno = exc.lineno
    else:
        te = traceback.TracebackException.from_exception(exc)
        _prune(te, set())
        # Clip each part (a huge exception message must not crowd out the frames), then the whole.
        text = "".join(_clip(part, message_limit) for part in te.format())
        lineno = next((f.lineno for f in reversed(te.stack) if f.filename == CODE_FILENAME), None)
    info["traceback"] = _clip(text, traceback_limit)
    if isinstance(lineno, int):
        info["lineno"] = lineno
    return info
