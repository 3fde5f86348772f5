"""A stdio request that fails to parse gets the JSON-RPC error, not silence (issue 14, item 11).

Raw bytes on `ptc-gateway serve`'s stdin: the lone surrogate Node's `JSON.stringify` produces,
`"jsonrpc": "1.0"`, an id without a method, and plain garbage. Each is answered (with the
request's id when the line has one), and the server goes on serving.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import Process
from mcp_types import INVALID_REQUEST, PARSE_ERROR

from tests.server.conftest import serve_args

pytestmark = pytest.mark.anyio

CASES: list[tuple[bytes, int | None, int]] = [
    (b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"\\ud800"}}', 1, PARSE_ERROR),
    (b'{"jsonrpc":"1.0","id":2,"method":"ping"}', 2, INVALID_REQUEST),
    (b'{"jsonrpc":"2.0","id":"three"}', "three", INVALID_REQUEST),  # pyright: ignore[reportAssignmentType]
    (b"this is not JSON", None, PARSE_ERROR),
    (b"[1, 2, 3]", None, INVALID_REQUEST),
]


class Lines:
    def __init__(self, process: Process) -> None:
        assert process.stdout is not None
        self._stdout = process.stdout
        self._buffer = b""

    async def next(self) -> dict[str, Any]:
        while b"\n" not in self._buffer:
            self._buffer += await self._stdout.receive()
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)


async def test_unparsable_requests_are_answered(tmp_path: Path, gateway_env: dict[str, str]) -> None:
    servers = tmp_path / "servers.json"
    servers.write_text('{"mcpServers": {}}', encoding="utf-8")
    process = await anyio.open_process(serve_args(servers), env=gateway_env, stderr=subprocess.DEVNULL)
    assert process.stdin is not None
    try:
        lines = Lines(process)
        with anyio.fail_after(60):
            for raw, request_id, code in CASES:
                await process.stdin.send(raw + b"\n")
                answer = await lines.next()
                assert answer["jsonrpc"] == "2.0"
                assert answer["id"] == request_id, (raw, answer)
                assert answer["error"]["code"] == code, (raw, answer)
            # Still serving: a well-formed request gets its normal answer.
            await process.stdin.send(b'{"jsonrpc":"2.0","id":9,"method":"ping"}\n')
            answer = await lines.next()
            assert answer["id"] == 9 and "error" not in answer, answer
    finally:
        await process.stdin.aclose()
        with anyio.CancelScope(shield=True), anyio.move_on_after(10):
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()
        await process.aclose()
