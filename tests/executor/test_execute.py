"""The executor's behaviour, against every sandbox backend (see conftest.py)."""

from __future__ import annotations

import anyio
import pytest

from gateway.config import ExecutionLimits
from gateway.errors import (
    ExecutionTimeoutError,
    LimitExceededError,
    ProtocolViolationError,
)
from gateway.executor import ExecutionHooks, Executor
from gateway.sandbox import BaseSandboxBackend, LocalProcessBackend
from gateway.testing import FunctionToolSource, RecordedCall
from gateway.tools import JsonValue, ToolRef, ToolSpec
from tests.executor._fleet import fake_source, run, toolbox

pytestmark = pytest.mark.anyio


async def test_prints_and_returns_ok(sandbox_backend: BaseSandboxBackend) -> None:
    result = await run(sandbox_backend, "print('hello')\nimport sys\nprint('oops', file=sys.stderr)")
    assert result.ok, result.error
    assert result.stdout == "hello\n"
    assert result.stderr == "oops\n"
    assert result.tool_calls == 0


async def test_gather_of_many_calls(sandbox_backend: BaseSandboxBackend) -> None:
    source = fake_source()
    code = """
results = await asyncio.gather(*(calc.add(a=i, b=1) for i in range(200)))
print(sum(r["sum"] for r in results))
"""
    result = await run(sandbox_backend, code, source=source)
    assert result.ok, result.error
    assert result.stdout == f"{sum(range(200)) + 200}\n"
    assert result.tool_calls == 200
    assert len(source.calls) == 200


async def test_return_convention(sandbox_backend: BaseSandboxBackend) -> None:
    code = """
print(repr(await calc.echo(text='{"a": [1, 2]}')))
print(repr(await calc.echo(text="plain words")))
print(repr(await calc.echo(text="NaN")))
blocks = await calc.picture()
print([(b.type, b.mime_type, b.data, b.text, b.uri) for b in blocks])
"""
    result = await run(sandbox_backend, code)
    assert result.ok, result.error
    assert result.stdout.splitlines() == [
        "{'a': [1, 2]}",
        "'plain words'",
        "'NaN'",
        "[('image', 'image/png', 'aGVsbG8=', None, None), ('resource', 'text/plain', None, 'hello', 'file:///a.txt')]",
    ]


async def test_arguments_are_mapped_to_original_names(sandbox_backend: BaseSandboxBackend) -> None:
    source = fake_source()
    code = (
        "await files.read_file('a.txt')\n"
        "await files.read_file(path='b.txt', max_lines=3)\n"
        "await files.read_file(max_lines=None, path='c.txt')\n"  # an optional left at None is not sent
        "await files.read_file('d.txt', max_lines=None)\n"
    )
    result = await run(sandbox_backend, code, source=source)
    assert result.ok, result.error
    assert [call.arguments for call in source.calls] == [
        {"path": "a.txt"},
        {"path": "b.txt", "max-lines": 3},
        {"path": "c.txt"},
        {"path": "d.txt"},
    ]
    assert {call.ref for call in source.calls} == {ToolRef(server="files", name="read-file")}


async def test_tool_error_is_catchable_in_the_code(sandbox_backend: BaseSandboxBackend) -> None:
    code = """
try:
    await calc.fail(message="no such thing")
except ToolError as e:
    print("caught:", e)
try:
    await calc.down()
except ToolError as e:
    print("caught:", e)
"""
    result = await run(sandbox_backend, code)
    assert result.ok, result.error
    assert result.stdout.splitlines() == [
        "caught: no such thing",
        "caught: calc.down: server 'calc' is not reachable",
    ]


async def test_uncaught_tool_error_fails_with_kind_tool(sandbox_backend: BaseSandboxBackend) -> None:
    result = await run(sandbox_backend, "x = 1\nawait calc.fail(message='broken')\n")
    assert result.error is not None
    assert result.error.kind == "tool"
    assert result.error.type == "ToolError"
    assert result.error.message == "broken"
    assert result.error.traceback is not None
    assert 'File "<code>", line 2, in <module>' in result.error.traceback
    assert result.tool_calls == 1


async def test_traceback_points_at_the_models_lines(sandbox_backend: BaseSandboxBackend) -> None:
    code = '''text = """a
multi-line
string"""

def lookup(table):
    return table["missing"]

rows = await calc.add(a=1, b=2)
lookup(rows)
'''
    result = await run(sandbox_backend, code)
    assert result.error is not None
    assert result.error.kind == "code"
    assert result.error.type == "KeyError"
    traceback = result.error.traceback or ""
    assert 'File "<code>", line 9, in <module>' in traceback
    assert 'File "<code>", line 6, in lookup' in traceback
    assert 'return table["missing"]' in traceback
    assert "runner.py" not in traceback and "asyncio" not in traceback and "bridge" not in traceback


async def test_syntax_error_names_the_line(sandbox_backend: BaseSandboxBackend) -> None:
    result = await run(sandbox_backend, "x = 1\ny = (\n")
    assert result.error is not None
    assert (result.error.kind, result.error.type) == ("code", "SyntaxError")
    assert "line 2" in (result.error.traceback or "")


async def test_code_may_run_its_own_event_loop(sandbox_backend: BaseSandboxBackend) -> None:
    code = """
async def main():
    return await calc.add(a=2, b=3)

if __name__ == "__main__":
    print(asyncio.run(main()))
"""
    result = await run(sandbox_backend, code)
    assert result.ok, result.error
    assert result.stdout == "{'sum': 5}\n"


async def test_calls_from_event_loops_in_other_threads(sandbox_backend: BaseSandboxBackend) -> None:
    # Each loop that calls watches the protocol fd; whichever reads a result hands it to its caller's loop.
    code = """
import threading
sums = []
def worker(i):
    async def go():
        return await asyncio.gather(*(calc.add(a=i, b=k) for k in range(20)))
    sums.extend(r["sum"] for r in asyncio.run(go()))
threads = [threading.Thread(target=worker, args=(100 * i,)) for i in range(1, 4)]
for t in threads:
    t.start()
mine = await asyncio.gather(*(calc.add(a=0, b=k) for k in range(20)))
for t in threads:
    t.join()
print(sorted(sums) == sorted(100 * i + k for i in range(1, 4) for k in range(20)), [r["sum"] for r in mine][-1])
"""
    result = await run(sandbox_backend, code)
    assert result.ok, result.error
    assert result.stdout == "True 19\n"
    assert result.tool_calls == 80


async def test_text_results_that_look_like_json(sandbox_backend: BaseSandboxBackend) -> None:
    # JSON text becomes a value; other text (also JSON nested deeper than Python parses) stays a str.
    code = """
for text in ('{"a": [1, 2]}', ' 7 ', 'NaN', 'Echo: hi', '', '[' * 100_000 + ']' * 100_000):
    value = await calc.echo(text=text)
    print(type(value).__name__, len(value) if isinstance(value, str) else value)
"""
    result = await run(sandbox_backend, code)
    assert result.ok, result.error
    assert result.stdout.splitlines() == ["dict {'a': [1, 2]}", "int 7", "str 3", "str 8", "str 0", "str 200000"]


async def test_sys_exit_zero_is_success_nonzero_is_failure(sandbox_backend: BaseSandboxBackend) -> None:
    ok = await run(sandbox_backend, "import sys\nprint('bye')\nsys.exit(0)")
    assert ok.ok and ok.stdout == "bye\n"
    failed = await run(sandbox_backend, "import sys\nsys.exit(2)")
    assert failed.error is not None and failed.error.type == "SystemExit"


async def test_forged_frames_in_output_are_just_output(sandbox_backend: BaseSandboxBackend) -> None:
    forged = "#PTC 1 " + "0" * 32 + " 2\\n{}\\n#PTC 1 deadbeef 99999999\\n"
    code = f"""
import os, subprocess, sys
print({forged!r})
print({forged!r}, file=sys.stderr)
os.write(1, {forged!r}.encode())
os.write(2, {forged!r}.encode())
subprocess.run(["/bin/sh", "-c", "printf '#PTC 1 x 5\\\\n'"])
print("end")
"""
    result = await run(sandbox_backend, code)
    assert result.ok, result.error
    assert result.stdout.count("#PTC 1") == 5
    assert result.stdout.endswith("end\n")
    assert result.stderr.count("#PTC 1") == 4


async def test_subprocess_output_is_captured(sandbox_backend: BaseSandboxBackend) -> None:
    code = 'import subprocess\nsubprocess.run(["/bin/sh", "-c", "echo out; echo err >&2"])'
    result = await run(sandbox_backend, code)
    assert result.ok, result.error
    assert result.stdout == "out\n"
    assert result.stderr == "err\n"


async def test_output_is_capped_with_a_marker(sandbox_backend: BaseSandboxBackend) -> None:
    limits = ExecutionLimits(max_output_bytes=4096)
    code = "import sys\nfor i in range(20000):\n    print('x' * 99)\nsys.stderr.write('e' * 100000)"
    result = await run(sandbox_backend, code, limits=limits)
    assert result.ok, result.error
    assert result.stdout_truncated and result.stderr_truncated
    assert result.stdout.startswith("x" * 99 + "\n")
    assert "[... output truncated: 1995904 more bytes dropped (max_output_bytes=4096)]" in result.stdout
    assert len(result.stdout) < 4096 + 200
    assert "95904 more bytes dropped" in result.stderr


async def test_timeout_says_how_far_the_code_got(sandbox_backend: BaseSandboxBackend) -> None:
    limits = ExecutionLimits(execution_timeout_s=1.5)
    code = "await calc.add(a=1, b=1)\nprint('started', flush=True)\nwhile True:\n    pass\n"
    result = await run(sandbox_backend, code, limits=limits)
    assert result.error is not None
    assert result.error.kind == "timeout"
    assert isinstance(result.error.exception, ExecutionTimeoutError)
    assert result.error.message == "timed out after 1.5 s; 1 tool call had completed"
    assert result.stdout == "started\n"


async def test_calls_in_flight_end_before_the_execution_deadline(sandbox_backend: BaseSandboxBackend) -> None:
    limits = ExecutionLimits(execution_timeout_s=1.0)
    code = "await asyncio.gather(calc.sleep(seconds=600), calc.sleep(seconds=600))"
    result = await run(sandbox_backend, code, limits=limits)
    assert result.error is not None and result.error.kind == "tool", result.error
    assert result.error.message == (
        "calc.sleep: no answer before the execution's deadline (execution_timeout_s=1 s; "
        "calls end 0.5 s before it so the code can use what it has)"
    )


async def test_tool_call_timeout_is_a_tool_error(sandbox_backend: BaseSandboxBackend) -> None:
    limits = ExecutionLimits(tool_call_timeout_s=0.2)
    code = "try:\n    await calc.sleep(seconds=600)\nexcept ToolError as e:\n    print(e)"
    result = await run(sandbox_backend, code, limits=limits)
    assert result.ok, result.error
    assert result.stdout == "calc.sleep: no answer within 0.2 s (tool_call_timeout_s)\n"


async def test_call_cap(sandbox_backend: BaseSandboxBackend) -> None:
    code = "await asyncio.gather(*(calc.echo(text=str(i)) for i in range(10_000)))"
    result = await run(sandbox_backend, code, limits=ExecutionLimits(max_tool_calls=1000))
    assert result.error is not None
    assert result.error.kind == "limit"
    assert isinstance(result.error.exception, LimitExceededError)
    assert result.error.message.startswith("the code made more than 1000 tool calls (max_tool_calls)")
    assert result.tool_calls <= 1000


async def test_result_size_cap_fails_only_that_call(sandbox_backend: BaseSandboxBackend) -> None:
    limits = ExecutionLimits(max_result_bytes=10_000)
    code = """
try:
    await calc.big(size=20_000)
except ToolError as e:
    print(e)
print(len(await calc.big(size=100)))
"""
    result = await run(sandbox_backend, code, limits=limits)
    assert result.ok, result.error
    first, second = result.stdout.splitlines()
    assert first.startswith("calc.big: the result is ")
    assert "over the max_result_bytes limit of 10000" in first
    assert second == "100"


async def test_too_large_arguments_fail_in_the_code(sandbox_backend: BaseSandboxBackend) -> None:
    limits = ExecutionLimits(max_frame_bytes=8192)
    code = "try:\n    await calc.echo(text='y' * 10000)\nexcept ValueError as e:\n    print(e)"
    result = await run(sandbox_backend, code, limits=limits)
    assert result.ok, result.error
    assert "over the gateway's limit of 8192 bytes" in result.stdout


async def test_bad_arguments_raise_type_error_in_the_code(sandbox_backend: BaseSandboxBackend) -> None:
    code = """
calls = (
    lambda: calc.add(1),
    lambda: calc.add(a={1, 2}, b=1),
    lambda: calc.add(1, 2, 3),
    lambda: calc.add(a=1),
    lambda: calc.add(a=1, b=2, c=3),
)
for call in calls:
    try:
        await call()
    except TypeError as e:
        print(e)
"""
    result = await run(sandbox_backend, code)
    assert result.ok, result.error
    lines = result.stdout.splitlines()
    assert lines[0] == "calc.add(): missing a required argument: 'b'"
    assert lines[1].startswith("calc.add(): arguments must be JSON values")
    assert lines[2] == "calc.add(): too many positional arguments"
    assert lines[3] == "calc.add(): missing a required argument: 'b'"
    assert lines[4] == "calc.add(): got an unexpected keyword argument 'c'"


# Hostile code reaching around the runner to the protocol channel itself.
_CHANNEL = "import gc\nch = next(o for o in gc.get_objects() if type(o).__name__ == 'Channel')\n"


async def test_unknown_tool_is_a_protocol_violation(sandbox_backend: BaseSandboxBackend) -> None:
    code = (
        _CHANNEL
        + "ch.send({'type': 'call', 'id': 999, 'tool': 'nope.nothing', 'arguments': {}})\nimport time\ntime.sleep(60)"
    )
    result = await run(sandbox_backend, code)
    assert result.error is not None
    assert result.error.kind == "protocol"
    assert isinstance(result.error.exception, ProtocolViolationError)
    assert "call to unknown tool 'nope.nothing'" in result.error.message


async def test_oversized_frame_is_refused(sandbox_backend: BaseSandboxBackend) -> None:
    code = _CHANNEL + "ch.write(('#PTC 1 %s 999999999\\n' % ch.nonce).encode())\nimport time\ntime.sleep(60)"
    result = await run(sandbox_backend, code)
    assert result.error is not None
    assert result.error.kind == "protocol"
    assert "exceeds the 4194304-byte limit" in result.error.message
    assert "the code did not start" not in result.error.message


async def test_malformed_frames_are_protocol_violations(sandbox_backend: BaseSandboxBackend) -> None:
    for payload, expected in [
        ("ch.send({'type': 'call', 'id': 'x', 'tool': 'calc.add', 'arguments': {}})", "malformed 'call' frame"),
        ("ch.send({'type': 'surprise'})", "malformed 'surprise' frame"),
        ("ch.write(b'#PTC 1 ' + b'f' * 32 + b' 2\\n{}\\n')", "wrong nonce"),
        ("ch.write(('#PTC 1 %s 3\\nabc\\n' % ch.nonce).encode())", "not valid JSON"),
    ]:
        result = await run(sandbox_backend, _CHANNEL + payload + "\nimport time\ntime.sleep(60)")
        assert result.error is not None, payload
        assert result.error.kind == "protocol", result.error
        assert expected in result.error.message, result.error.message


async def test_runner_dying_is_a_crash(sandbox_backend: BaseSandboxBackend) -> None:
    result = await run(sandbox_backend, "await calc.add(a=1, b=2)\nimport os\nos._exit(9)")
    assert result.error is not None
    assert result.error.kind == "crash"
    assert result.error.message == (
        "the sandbox runner exited with status 9 before reporting an outcome; 1 tool call had completed"
    )


async def test_hooks_see_every_call(sandbox_backend: BaseSandboxBackend) -> None:
    seen: list[tuple[str, bool, int]] = []

    async def on_done(ref: ToolRef, ok: bool, completed: int) -> None:
        seen.append((str(ref), ok, completed))

    code = "await calc.add(a=1, b=2)\ntry:\n    await calc.fail(message='x')\nexcept ToolError:\n    pass"
    result = await run(sandbox_backend, code, hooks=ExecutionHooks(on_tool_call_done=on_done))
    assert result.ok, result.error
    assert seen == [("calc/add", True, 1), ("calc/fail", False, 2)]


async def test_a_slow_hook_on_the_last_call_still_completes(sandbox_backend: BaseSandboxBackend) -> None:
    # The code ends right after its last result; the hook reporting that call must not be cut off.
    finished: list[int] = []

    async def on_done(_ref: ToolRef, _ok: bool, completed: int) -> None:
        await anyio.sleep(0.3)  # a progress notification to a slow client
        finished.append(completed)

    code = "a, b = await asyncio.gather(calc.add(a=1, b=2), calc.add(a=3, b=4))\nprint(a['sum'] + b['sum'])"
    result = await run(sandbox_backend, code, hooks=ExecutionHooks(on_tool_call_done=on_done))
    assert result.ok, result.error
    assert result.stdout == "10\n"
    assert sorted(finished) == [1, 2]


async def test_discovery_helpers(sandbox_backend: BaseSandboxBackend) -> None:
    code = """
stubs = await search_tools("read a file")
print(stubs[0].splitlines()[0])
print(len(search_tools("add numbers")) >= 1)
help(files.read_file)
"""
    result = await run(sandbox_backend, code, helpers=True)
    assert result.ok, result.error
    lines = result.stdout.splitlines()
    assert lines[0] == "# files.read_file"
    assert lines[1] == "True"
    assert lines[2] == "# files.read_file"
    assert lines[3] == "async def read_file(path: str, max_lines: int | None = None) -> str:"
    assert "max_lines: at most this many lines" in result.stdout


async def test_namespace_errors_are_helpful(sandbox_backend: BaseSandboxBackend) -> None:
    result = await run(sandbox_backend, "calc.multiply")
    assert result.error is not None
    assert result.error.message.startswith("'calc' has no tool 'multiply'; its tools are: add, big, down")


async def test_backend_is_healthy_after_hostile_runs(sandbox_backend: BaseSandboxBackend) -> None:
    await run(sandbox_backend, "import os\nos._exit(1)")
    await run(sandbox_backend, _CHANNEL + "ch.write(b'garbage\\n' * 100)\nimport time\ntime.sleep(60)")
    result = await run(sandbox_backend, "print(await calc.add(a=40, b=2))")
    assert result.ok, result.error
    assert result.stdout == "{'sum': 42}\n"


async def test_with_the_rendered_stubs_of_the_catalog(sandbox_backend: BaseSandboxBackend) -> None:
    """The contract with gateway.stubs: its module execs in the runner, its namespaces map names back."""
    specs = [
        ToolSpec(
            server="my-files",
            name="read.file",
            description="Read one file.",
            input_schema={
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "max-lines": {"type": "integer"},
                    "class": {"type": "string"},
                },
                "required": ["path"],
            },
        )
    ]
    source = FunctionToolSource(specs, handler=_echo_arguments)
    executor = Executor(backend=sandbox_backend, source=source, limits=ExecutionLimits())
    code = """
import inspect
print(inspect.signature(my_files.read_file))
print(await my_files.read_file("a", class_="c"))
help(my_files.read_file)
"""
    with anyio.fail_after(60):
        result = await executor.execute(code, toolbox=toolbox(specs=specs, stubs=None, helpers=True))
    assert result.ok, result.error
    lines = result.stdout.splitlines()
    assert lines[0] == "(path: 'str', max_lines: 'int | None' = None, class_: 'str | None' = None) -> 'Any'"
    assert lines[1] == "{'path': 'a', 'class': 'c'}"
    assert lines[2] == "# my_files.read_file"
    assert [(call.ref, call.arguments) for call in source.calls] == [
        (ToolRef(server="my-files", name="read.file"), {"path": "a", "class": "c"})
    ]


async def _echo_arguments(call: RecordedCall) -> JsonValue:
    return dict(call.arguments)


async def test_concurrent_calls_are_bounded(sandbox_backend: BaseSandboxBackend) -> None:
    source = fake_source()
    code = "print(len(await asyncio.gather(*(calc.sleep(seconds=0.02) for _ in range(40)))))"
    result = await run(sandbox_backend, code, source=source, limits=ExecutionLimits(max_concurrent_calls=4))
    assert result.ok, result.error
    assert result.stdout == "40\n"
    assert source.max_in_flight == 4


async def test_lone_surrogates_never_break_the_wire(sandbox_backend: BaseSandboxBackend) -> None:
    code = """
print("\\ud800 printed")
try:
    await calc.echo(text="\\ud800")
except TypeError as e:
    print("TypeError")
raise ValueError("\\udcff raised")
"""
    result = await run(sandbox_backend, code)
    assert result.stdout == "\\ud800 printed\nTypeError\n"
    assert result.error is not None and result.error.type == "ValueError"
    assert result.error.message == "\\udcff raised"


async def test_huge_errors_fit_in_small_frames(sandbox_backend: BaseSandboxBackend) -> None:
    code = (
        "def f(n):\n    return f(n + 1)\n"
        "try:\n    f(0)\nexcept RecursionError:\n    raise ValueError('\\x00' * 100_000)"
    )
    result = await run(sandbox_backend, code, limits=ExecutionLimits(max_frame_bytes=4096))
    assert result.error is not None
    assert (result.error.kind, result.error.type) == ("code", "ValueError")
    assert "characters cut" in result.error.message
    traceback = result.error.traceback or ""
    assert traceback.startswith("Traceback (most recent call last):")
    assert len(traceback) < 1000


async def test_broken_stubs_are_a_crash_before_the_code_starts(sandbox_backend: BaseSandboxBackend) -> None:
    executor = Executor(backend=sandbox_backend, source=fake_source(), limits=ExecutionLimits())
    with anyio.fail_after(60):
        result = await executor.execute("print('never')", toolbox=toolbox(stubs="raise RuntimeError('bad stubs')"))
    assert result.error is not None
    assert result.error.kind == "crash"
    assert result.error.message == (
        "the sandbox could not start the code: the tool stubs could not be loaded: RuntimeError: bad stubs; "
        "the code did not start"
    )
    assert result.stdout == ""


async def test_null_bytes_in_the_code_are_the_codes_error(sandbox_backend: BaseSandboxBackend) -> None:
    result = await run(sandbox_backend, "x = 1\x00")
    assert result.error is not None
    assert result.error.kind == "code"
    assert result.error.type in ("ValueError", "SyntaxError")  # depends on the Python version


async def test_code_that_is_not_unicode_text_is_the_codes_error() -> None:
    # A lone surrogate cannot be encoded for the job frame: `ptc-gateway run -` reads undecodable stdin
    # bytes as surrogate escapes under a C locale, and a model's JSON may carry "\\ud800". Decided before
    # any sandbox is acquired, so one backend is enough.
    backend = LocalProcessBackend()
    try:
        result = await run(backend, "print(1)\nprint('caf\udce9')  # \ud800")
    finally:
        await backend.aclose()
    assert result.error is not None
    assert (result.error.kind, result.error.type) == ("code", "UnicodeEncodeError")
    assert result.error.message == (
        "the code is not valid Unicode text: a lone surrogate '\\udce9' at line 2, column 11 "
        "(text decoded from bytes that are not UTF-8?)"
    )
    assert (result.stdout, result.tool_calls) == ("", 0)


async def test_help_on_namespaces_and_other_objects(sandbox_backend: BaseSandboxBackend) -> None:
    result = await run(sandbox_backend, "help(files)\nhelp(len)", helpers=True)
    assert result.ok, result.error
    assert result.stdout.startswith("# files.read_file\nasync def read_file(")
    assert "Return the number of items in a container." in result.stdout


async def test_100_mb_printed_is_capped(sandbox_backend: BaseSandboxBackend) -> None:
    code = "import sys\nblock = 'z' * (1 << 20)\nfor _ in range(100):\n    sys.stdout.write(block)\nprint('done')"
    result = await run(sandbox_backend, code)
    assert result.ok, result.error
    assert result.stdout_truncated
    assert len(result.stdout) < ExecutionLimits().max_output_bytes + 200
    assert f"{100 * (1 << 20) + 5 - ExecutionLimits().max_output_bytes} more bytes dropped" in result.stdout


async def test_subprocesses_inherit_no_protocol_channel(sandbox_backend: BaseSandboxBackend) -> None:
    code = """
import subprocess, sys
subprocess.run([sys.executable, "-c", "import os; print(sorted(os.listdir('/proc/self/fd'), key=int))"])
import os
print(os.read(0, 10))
"""
    result = await run(sandbox_backend, code)
    assert result.ok, result.error
    # 0-2 are /dev/null and the output pipes; 3 is listdir's own directory handle.
    assert result.stdout == "['0', '1', '2', '3']\nb''\n"
