"""What the host checks in a forged `call` frame (issue 14, item 13).

The stubs refuse extra arguments and unknown tools inside the sandbox, but the code can write its
own frames (with the real nonce): the host must refuse them too, and name them so that a look-alike
cannot pass for a real tool in the message.
"""

from __future__ import annotations

import anyio
import pytest

from bridge.protocol import encode_frame
from gateway.config import ExecutionLimits
from gateway.executor import Executor
from gateway.testing import FunctionToolSource, RecordedCall
from gateway.tools import ToolSpec
from tests.executor._fleet import fake_source, run, toolbox
from tests.security._scripted import ScriptedBackend

pytestmark = pytest.mark.anyio

DONE = {"type": "done", "ok": True, "tool_calls": 1, "stdout_dropped": 0, "stderr_dropped": 0}


async def test_a_look_alike_tool_name_is_escaped_in_the_violation() -> None:
    def script(nonce: str) -> bytes:
        call = {"type": "call", "id": 0, "tool": "c\u0430lc.add", "arguments": {}}  # Cyrillic "а"
        return encode_frame(nonce, {"type": "started"}) + encode_frame(nonce, call)

    result = await run(ScriptedBackend(script), "pass", timeout_s=30)
    assert result.error is not None and result.error.kind == "protocol"
    assert "call to unknown tool 'c\\u0430lc.add'" in result.error.message


async def test_a_look_alike_frame_type_is_escaped_in_the_violation() -> None:
    def script(nonce: str) -> bytes:
        return encode_frame(nonce, {"type": "d\u043ene", "ok": True})  # Cyrillic "о"

    result = await run(ScriptedBackend(script), "pass", timeout_s=30)
    assert result.error is not None and result.error.kind == "protocol"
    assert "malformed 'd\\u043ene' frame" in result.error.message


async def test_extra_arguments_are_refused_when_the_schema_forbids_them() -> None:
    strict = ToolSpec(
        server="calc",
        name="add",
        input_schema={
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "additionalProperties": False,
        },
    )
    box = toolbox(specs=[strict], stubs="")

    def script(nonce: str) -> list[bytes]:
        call = {"type": "call", "id": 0, "tool": "calc.add", "arguments": {"a": 1, "b": 2, "sudo": True}}
        return [encode_frame(nonce, {"type": "started"}) + encode_frame(nonce, call), encode_frame(nonce, DONE)]

    backend = ScriptedBackend(script)

    async def never(call: RecordedCall) -> str:
        raise AssertionError(f"the upstream was called: {call}")

    source = FunctionToolSource([strict], handler=never)
    executor = Executor(backend=backend, source=source, limits=ExecutionLimits())
    with anyio.fail_after(30):
        result = await executor.execute("pass", toolbox=box)
    assert result.ok, result.error
    assert source.calls == []  # never reached the upstream
    (answer,) = [frame for frame in backend.sandboxes[0].sent if frame.get("type") == "result"]
    assert answer["ok"] is False
    assert answer["error"] == {
        "type": "ToolError",
        "message": "calc.add: unexpected argument 'sudo': its input schema accepts only 'a', 'b'",
    }


async def test_extra_arguments_pass_when_the_schema_allows_them() -> None:
    def script(nonce: str) -> list[bytes]:
        call = {"type": "call", "id": 0, "tool": "calc.echo", "arguments": {"text": "hi", "extra": 1}}
        return [encode_frame(nonce, {"type": "started"}) + encode_frame(nonce, call), encode_frame(nonce, DONE)]

    source = fake_source()
    executor = Executor(backend=ScriptedBackend(script), source=source, limits=ExecutionLimits())
    with anyio.fail_after(30):
        result = await executor.execute("pass", toolbox=toolbox(stubs=""))
    assert result.ok, result.error
    assert len(source.calls) == 1
