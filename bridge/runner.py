"""The runner: executes one block of model code inside the sandbox and bridges its tool calls.

Run it as ``python3 -I -c "import sys; sys.path.insert(0, DIR); from bridge.runner import main; main()"``
where ``DIR`` holds the ``bridge`` package (this file, ``protocol.py`` and the ``_*.py`` modules; all
stdlib only, CPython >= 3.10, no other dependency). One process runs exactly one job:

1. take over stdio (`bridge._channel.take_over_stdio`): the protocol moves to private fds; user
   output is pumped into ``output`` frames, capped per stream;
2. send ``hello``; read the ``job`` frame and adopt its nonce;
3. exec the job's stub module, install one namespace object per server (plus ``ToolError``,
   ``asyncio`` and, when asked, the ``search_tools``/``help`` helpers) in a fresh ``__main__``;
4. send ``started``; compile the code with top-level ``await`` under the filename ``<code>`` and run
   it: a coroutine code object runs under ``asyncio.run``, plain code runs directly (so code that
   calls ``asyncio.run(main())`` itself works too);
5. send ``done`` with the outcome (the traceback shows only the code's frames), then exit.

See docs/protocol.md.
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import inspect
import os
import select
import sys
import threading
import traceback
import types
from functools import partial
from typing import Any

from bridge._calls import ToolCaller, ToolError, build_namespaces
from bridge._channel import OutputPump, Stdio, take_over_stdio
from bridge._stub_index import StubIndex, make_help, make_search_tools
from bridge._traceback import CODE_FILENAME, STUBS_FILENAME, error_info, register_source
from bridge.protocol import DEFAULT_MAX_FRAME_BYTES, PROTOCOL_VERSION, STUB_ERROR, TOOL_ERROR, ErrorInfo, FrameError

__all__ = ["main"]

DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024
PUMP_DRAIN_S = 2.0
"""How long the runner waits, after the code ends, for output still in the pipes (a subprocess
left running in the background may hold them open forever)."""

EXIT_OK = 0
EXIT_HOST_GONE = 3
EXIT_BAD_JOB = 4
EXIT_INTERNAL = 70


def main() -> None:
    """Run one job over this process's stdin/stdout, then exit the process."""
    stdio = take_over_stdio()
    try:
        status = _serve(stdio)
    except BaseException as e:  # noqa: BLE001 - the process boundary: report to the original stderr, exit
        stdio.diagnose(f"internal error: {e!r}\n{traceback.format_exc()}")
        status = EXIT_INTERNAL
    # Exit hard: threads the user code left running must not keep the sandbox alive.
    os._exit(status)


def _serve(stdio: Stdio) -> int:
    channel = stdio.channel
    version = "%d.%d.%d" % sys.version_info[:3]
    channel.send({"type": "hello", "protocol": PROTOCOL_VERSION, "python": version})
    try:
        received = channel.receive()
    except FrameError as e:
        stdio.diagnose(f"bad job frame: {e}")
        return EXIT_BAD_JOB
    if received is None:
        return EXIT_HOST_GONE
    nonce, job = received
    if job.get("type") != "job":
        stdio.diagnose(f"expected a job frame, got {job.get('type')!r}")
        return EXIT_BAD_JOB
    channel.adopt_nonce(nonce)
    limits: dict[str, Any] = job.get("limits") or {}
    channel.max_frame_bytes = int(limits.get("max_frame_bytes", DEFAULT_MAX_FRAME_BYTES))
    max_output = int(limits.get("max_output_bytes", DEFAULT_MAX_OUTPUT_BYTES))
    pumps = [
        OutputPump(channel=channel, fd=stdio.stdout_fd, stream="stdout", max_bytes=max_output),
        OutputPump(channel=channel, fd=stdio.stderr_fd, stream="stderr", max_bytes=max_output),
    ]
    for pump in pumps:
        pump.start()
    caller = ToolCaller(channel, on_input_lost=partial(_host_gone, stdio))
    threading.Thread(target=_watch_hangup, args=(stdio,), name="ptc-hangup", daemon=True).start()

    error = _execute(job, caller, stdio)

    stdio.release_user_output()
    for pump in pumps:
        pump.join(PUMP_DRAIN_S)
    done: dict[str, Any] = {
        "type": "done",
        "ok": error is None,
        "tool_calls": caller.completed,
        "stdout_dropped": pumps[0].dropped,
        "stderr_dropped": pumps[1].dropped,
    }
    if error is not None:
        done["error"] = error
    channel.send(done)
    return EXIT_OK


def _host_gone(stdio: Stdio, reason: str) -> None:
    """The host closed our input or sent garbage: nobody is left to report to, so exit at once."""
    if reason:
        stdio.diagnose(reason)
    os._exit(EXIT_HOST_GONE)


def _watch_hangup(stdio: Stdio) -> None:
    """Watchdog thread: exit when the host closes our input, also while no call is waiting.

    It polls for hang-up only (no ``POLLIN``), so result frames never wake it: the event loop
    that awaits a result reads it (`ToolCaller`).
    """
    poller = select.poll()
    poller.register(stdio.channel.read_fd, 0)  # POLLHUP and POLLERR are always reported
    while True:
        try:
            events = poller.poll()
        except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for exotic platforms
            continue
        if any(mask & (select.POLLHUP | select.POLLERR | select.POLLNVAL) for _, mask in events):
            _host_gone(stdio, "")


def _execute(job: dict[str, Any], caller: ToolCaller, stdio: Stdio) -> ErrorInfo | None:
    """Install the namespaces and run the code; the code's exception comes back as `ErrorInfo`."""
    stubs_source = str(job.get("stubs") or "")
    specs: list[dict[str, Any]] = list(job.get("namespaces") or [])
    stubs_module = types.ModuleType("ptc_stubs")
    try:
        register_source(STUBS_FILENAME, stubs_source)
        exec(compile(stubs_source, STUBS_FILENAME, "exec", dont_inherit=True), stubs_module.__dict__)
    except Exception as e:  # noqa: BLE001 - any failure of the stubs is reported, the code never starts
        return {"type": STUB_ERROR, "message": f"the tool stubs could not be loaded: {type(e).__name__}: {e}"[:2000]}

    module = types.ModuleType("__main__")
    sys.modules["__main__"] = module
    scope = module.__dict__
    scope["__builtins__"] = builtins
    scope["asyncio"] = asyncio
    scope[TOOL_ERROR] = ToolError
    scope.update(build_namespaces(caller, specs, stubs_module.__dict__))
    if job.get("helpers"):
        index = StubIndex(stubs_source, [str(spec["name"]) for spec in specs])
        scope["search_tools"] = make_search_tools(index)
        scope["help"] = make_help(index)

    source = str(job.get("code") or "")
    register_source(CODE_FILENAME, source)
    try:
        code = compile(source, CODE_FILENAME, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
    except (SyntaxError, ValueError) as e:
        return error_info(e, max_frame_bytes=stdio.channel.max_frame_bytes)

    stdio.channel.send({"type": "started"})
    try:
        if code.co_flags & inspect.CO_COROUTINE:
            asyncio.run(eval(code, scope))
        else:
            exec(code, scope)
    except SystemExit as e:
        if e.code is None or e.code == 0:
            return None
        return error_info(e, max_frame_bytes=stdio.channel.max_frame_bytes)
    except BaseException as e:  # noqa: BLE001 - whatever the code raised is its outcome, reported to the host
        return error_info(e, max_frame_bytes=stdio.channel.max_frame_bytes)
    return None


if __name__ == "__main__":
    main()
