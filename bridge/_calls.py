"""What the user code sees: namespace objects whose attributes are async tool functions.

Each tool function binds its arguments against the stub's signature, sends a ``call`` frame and
awaits the matching ``result`` frame. Calls work from any asyncio event loop (also one the user
code starts itself with ``asyncio.run``, in any thread): see `ToolCaller`.

Stdlib only; must run on CPython >= 3.10.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from bridge._channel import Channel
from bridge.protocol import FrameError, encode_frame

__all__ = ["TOOL_MARK", "Content", "Namespace", "ToolCaller", "ToolError", "build_namespaces"]

TOOL_MARK = "__ptc_tool__"
"""Attribute on each tool function: its (namespace, name), for `help`."""


class ToolError(Exception):
    """A tool call failed: the tool reported an error, or the gateway could not complete the call."""


ToolError.__module__ = "builtins"  # tracebacks say `ToolError: ...`, like a builtin exception


class Content:
    """One block of a tool result that is not plain JSON or text (image, audio, resource, link).

    Attributes absent for a block's type are None: ``type`` ("text", "image", "audio",
    "resource", "resource_link"), ``text``, ``data`` (base64, for images, audio and blob
    resources), ``mime_type``, ``uri``, ``name``, ``description``.
    """

    __slots__ = ("data", "description", "mime_type", "name", "text", "type", "uri")

    def __init__(self, block: dict[str, Any]) -> None:
        self.type: str = str(block.get("type", ""))
        self.text: str | None = block.get("text")
        self.data: str | None = block.get("data")
        self.mime_type: str | None = block.get("mime_type")
        self.uri: str | None = block.get("uri")
        self.name: str | None = block.get("name")
        self.description: str | None = block.get("description")

    def __repr__(self) -> str:
        fields = [f"type={self.type!r}"]
        for key in ("text", "mime_type", "uri", "name", "description"):
            value = getattr(self, key)
            if value is not None:
                fields.append(f"{key}={_shorten(value)!r}")
        if self.data is not None:
            fields.append(f"data=<{len(self.data)} base64 chars>")
        return f"Content({', '.join(fields)})"


Content.__module__ = "builtins"


def _shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


class Namespace:
    """A server's tools as attributes: ``await expenses.get_team_members(department="eng")``."""

    def __init__(
        self,
        name: str,
        doc: str,
        tools: dict[str, Callable[..., Coroutine[Any, Any, Any]]],
        unavailable: str | None = None,
    ) -> None:
        object.__setattr__(self, "_ptc_name", name)
        object.__setattr__(self, "_ptc_unavailable", unavailable)
        object.__setattr__(self, "_ptc_tools", tools)
        object.__setattr__(self, "__doc__", doc)
        for tool_name, function in tools.items():
            object.__setattr__(self, tool_name, function)

    def __getattr__(self, name: str) -> Any:
        tools: dict[str, Any] = object.__getattribute__(self, "_ptc_tools")
        own: str = object.__getattribute__(self, "_ptc_name")
        unavailable: str | None = object.__getattribute__(self, "_ptc_unavailable")
        if unavailable is not None and not name.startswith("__"):
            return _unavailable_tool(f"{own}.{name}", unavailable)
        raise AttributeError(f"{own!r} has no tool {name!r}; its tools are: {', '.join(sorted(tools)) or '(none)'}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"tool namespace {object.__getattribute__(self, '_ptc_name')!r} is read-only")

    def __dir__(self) -> list[str]:
        return sorted(object.__getattribute__(self, "_ptc_tools"))

    def __repr__(self) -> str:
        tools = object.__getattribute__(self, "_ptc_tools")
        return f"<tools {object.__getattribute__(self, '_ptc_name')!r}: {', '.join(sorted(tools))}>"


class ToolCaller:
    """Sends ``call`` frames and matches ``result`` frames to the futures awaiting them.

    Results are read on the event loop itself: a loop that made a call watches the protocol fd
    with ``loop.add_reader`` and decodes whatever is readable, so a result wakes only the thread
    that awaits it (a reader thread would cost a second wake-up and a ``call_soon_threadsafe`` hop
    per call). Several loops (user code may start its own, in other threads too) may watch the
    fd; whichever reads a frame hands it to the loop that made the call. End of input or a bad
    frame means the host is gone: `on_input_lost`.
    """

    def __init__(self, channel: Channel, *, on_input_lost: Callable[[str], None]) -> None:
        self._channel = channel
        self._on_input_lost = on_input_lost
        self._lock = threading.Lock()
        """Guards the pending calls and the counters (calls may come from several threads)."""
        self._read_lock = threading.Lock()
        """One reader of the protocol fd at a time."""
        self._pending: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future[dict[str, Any]]]] = {}
        self._watching: set[asyncio.AbstractEventLoop] = set()
        """Loops that watch the protocol fd (a loop that no longer runs just never reads)."""
        self._next_id = 0
        self.completed = 0
        os.set_blocking(channel.read_fd, False)

    async def call(self, qualname: str, tool_id: str, arguments: dict[str, Any]) -> Any:
        """Call one tool and return its value per the return convention."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        with self._lock:
            call_id = self._next_id
            self._next_id += 1
        message = {"type": "call", "id": call_id, "tool": tool_id, "arguments": arguments}
        try:
            frame = encode_frame(self._channel.nonce, message)
        except (TypeError, ValueError) as e:
            raise TypeError(
                f"{qualname}(): arguments must be JSON values (str, int, float, bool, None, list, dict): {e}"
            ) from None
        if len(frame) > self._channel.max_frame_bytes:
            raise ValueError(
                f"{qualname}(): the arguments take {len(frame)} bytes, over the gateway's limit of "
                f"{self._channel.max_frame_bytes} bytes per message"
            )
        with self._lock:
            self._pending[call_id] = (loop, future)
        self._watch(loop)
        try:
            self._channel.write(frame)
            result = await future
        finally:
            with self._lock:
                self._pending.pop(call_id, None)
        with self._lock:
            self.completed += 1
        return _result_value(qualname, result)

    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Make `loop` watch the protocol fd (once: it keeps watching, so a call costs no epoll_ctl)."""
        with self._lock:
            if loop in self._watching:
                return
            self._watching.add(loop)
        loop.add_reader(self._channel.read_fd, self._on_readable, loop)

    def _on_readable(self, loop: asyncio.AbstractEventLoop) -> None:
        """The protocol fd is readable on `loop`: decode what is there and settle the calls it answers."""
        with self._read_lock:
            try:
                frames = self._channel.read_available()
            except (FrameError, OSError) as e:
                self._on_input_lost(f"protocol input failed: {e}")
                return
        if frames is None:
            self._on_input_lost("")  # the host closed our input: nobody is left to report to
            return
        for _, message in frames:
            if message.get("type") == "result":
                self._resolve(loop, message)

    def _resolve(self, current: asyncio.AbstractEventLoop, message: dict[str, Any]) -> None:
        with self._lock:
            entry = self._pending.get(message.get("id", -1))
        if entry is None:
            return  # the call was cancelled in the meantime
        loop, future = entry
        if loop is current:
            _settle(future, message)
            return
        try:
            loop.call_soon_threadsafe(_settle, future, message)
        except RuntimeError:
            pass  # that event loop is closed: nobody is waiting any more


def _settle(future: asyncio.Future[dict[str, Any]], message: dict[str, Any]) -> None:
    if not future.done():
        future.set_result(message)


def _result_value(qualname: str, message: dict[str, Any]) -> Any:
    if not message.get("ok"):
        error: dict[str, Any] = message.get("error") or {}
        text: Any = error.get("message")
        raise ToolError(str(text) if text else f"{qualname} failed")
    value: Any = message.get("value")
    if message.get("kind") == "content" and isinstance(value, list):
        return [Content(block) for block in value if isinstance(block, dict)]  # pyright: ignore[reportUnknownArgumentType, reportUnknownVariableType]
    return value


def _make_tool(
    caller: ToolCaller, namespace: str, entry: dict[str, Any], stub: Any
) -> Callable[..., Coroutine[Any, Any, Any]]:
    name: str = entry["name"]
    tool_id: str = entry["id"]
    params: dict[str, str] = dict(entry.get("params") or {})
    qualname = f"{namespace}.{name}"
    signature: inspect.Signature | None = None
    if stub is not None:
        try:
            signature = inspect.signature(stub)
        except (TypeError, ValueError):
            signature = None
    # The common call, keywords only and all of them named parameters, skips `Signature.bind`
    # (the slowest step of a call on the runner's side); anything else takes the general path.
    named: set[str] = set()
    required: set[str] = set()
    none_default: set[str] = set()
    for key, parameter in signature.parameters.items() if signature is not None else ():
        if parameter.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
            named.add(key)
            if parameter.default is inspect.Parameter.empty:
                required.add(key)
            elif parameter.default is None:
                none_default.add(key)

    async def tool(*args: Any, **kwargs: Any) -> Any:
        arguments: dict[str, Any] = {}
        if signature is not None and not args and named.issuperset(kwargs) and required.issubset(kwargs):
            for key, value in kwargs.items():
                if value is None and key in none_default:
                    continue  # an optional argument left at its None default is not sent
                arguments[params.get(key, key)] = value
        elif signature is None:
            if args:
                raise TypeError(f"{qualname}() takes keyword arguments only")
            for key, value in kwargs.items():
                arguments[params.get(key, key)] = value
        else:
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError as e:
                raise TypeError(f"{qualname}(): {e}") from None
            for key, value in bound.arguments.items():
                parameter = signature.parameters[key]
                if parameter.kind is inspect.Parameter.VAR_KEYWORD:
                    extra: dict[str, Any] = value
                    arguments.update({params.get(k, k): v for k, v in extra.items()})
                elif value is None and parameter.default is None:
                    continue  # an optional argument left at its None default is not sent
                else:
                    arguments[params.get(key, key)] = value
        return await caller.call(qualname, tool_id, arguments)

    tool.__name__ = name
    tool.__qualname__ = qualname
    tool.__module__ = namespace
    tool.__doc__ = getattr(stub, "__doc__", None)
    if signature is not None:
        tool.__signature__ = signature  # type: ignore[attr-defined]  # pyright: ignore[reportFunctionMemberAccess]
    setattr(tool, TOOL_MARK, (namespace, name))
    return tool


def _unavailable_tool(qualname: str, reason: str) -> Callable[..., Coroutine[Any, Any, Any]]:
    """A tool of a server that is not up: calling it raises `ToolError` (catchable, like a failed call)."""

    async def tool(*args: Any, **kwargs: Any) -> Any:
        raise ToolError(f"{qualname}: {reason}")

    tool.__name__ = qualname.rsplit(".", 1)[-1]
    tool.__qualname__ = qualname
    return tool


def build_namespaces(caller: ToolCaller, specs: list[dict[str, Any]], stubs: dict[str, Any]) -> dict[str, Namespace]:
    """One `Namespace` per job namespace; signatures and docstrings come from the stub classes."""
    namespaces: dict[str, Namespace] = {}
    for spec in specs:
        name: str = spec["name"]
        stub_class = stubs.get(name)
        tools: dict[str, Callable[..., Coroutine[Any, Any, Any]]] = {}
        entries: list[dict[str, Any]] = spec.get("tools") or []
        for entry in entries:
            stub = getattr(stub_class, entry["name"], None) if stub_class is not None else None
            tools[entry["name"]] = _make_tool(caller, name, entry, stub)
        unavailable = spec.get("unavailable")
        namespaces[name] = Namespace(
            name,
            str(spec.get("doc") or getattr(stub_class, "__doc__", None) or ""),
            tools,
            str(unavailable) if unavailable is not None else None,
        )
    return namespaces
