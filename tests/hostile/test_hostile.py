"""Hostile model code against the real gateway: a real stdio MCP server, the real Docker sandbox.

Each program must end in a clear error (or clearly bounded output), leave no container behind,
and leave the gateway able to run the next program.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from gateway.app import Gateway, open_gateway
from gateway.config import ExecutionLimits, GatewaySettings, StdioServerConfig
from gateway.executor import ExecutionResult, Executor
from gateway.sandbox import DockerSandboxBackend
from tests.sandbox._docker import count_owned_containers, docker_settings

pytestmark = pytest.mark.anyio

SERVER = Path(__file__).resolve().parents[2] / "examples" / "expenses_server.py"
SECRET = "ptc-hostile-secret-7f3a9c1e"
Hostile = tuple[Gateway, DockerSandboxBackend]
HEALTHY = "print(len(await expenses.list_departments()))"

# Find the runner's private protocol channel from inside the sandbox: what a determined attacker
# (who can read the runner's memory) would do. Everything it writes must still be refused by the host.
FIND_CHANNEL = """
import gc
channel = next(o for o in gc.get_objects() if type(o).__name__ == "Channel" and hasattr(o, "write_fd"))
"""


@pytest.fixture(scope="module")
async def hostile() -> AsyncIterator[Hostile]:
    """One gateway for the module: a real stdio server holding a secret, a Docker backend with no pool."""
    settings = GatewaySettings(
        servers={
            "expenses": StdioServerConfig(
                command=sys.executable, args=[str(SERVER)], env={"PTC_HOSTILE_SECRET": SECRET}
            )
        },
        sandbox=docker_settings(pool_size=0, memory_mb=128, pids_limit=64),
    )
    async with DockerSandboxBackend(settings.sandbox, settings.limits) as backend:
        async with open_gateway(settings, backend=backend) as gateway:
            with anyio.fail_after(60):
                await gateway.fleet.wait_ready()
            yield gateway, backend


async def run_hostile(hostile: Hostile, code: str, **limits: Any) -> ExecutionResult:
    """Run `code` under tight limits, then prove the gateway is healthy and nothing was left behind."""
    gateway, backend = hostile
    toolbox = await gateway.toolbox()
    executor = Executor(
        backend=backend,
        source=gateway.source,
        limits=ExecutionLimits.model_validate(
            {"execution_timeout_s": 5.0, "max_tool_calls": 100, "max_output_bytes": 64 * 1024, **limits}
        ),
    )
    with anyio.fail_after(60):
        result = await executor.execute(code, toolbox=toolbox)
    assert count_owned_containers(backend.owner) == 0, "a container was left behind"
    with anyio.fail_after(60):
        healthy = await gateway.execute(HEALTHY)
    assert healthy.ok, healthy.error
    assert healthy.stdout.strip().isdigit()
    assert count_owned_containers(backend.owner) == 0
    return result


def failure(result: ExecutionResult) -> tuple[str, str]:
    assert result.error is not None, f"expected a failure, got stdout={result.stdout[:200]!r}"
    return result.error.kind, f"{result.error.type}: {result.error.message}"


async def test_infinite_loop_times_out(hostile: Hostile) -> None:
    result = await run_hostile(hostile, "print('spinning')\nwhile True:\n    pass\n", execution_timeout_s=2.0)
    kind, message = failure(result)
    assert kind == "timeout"
    assert "timed out after 2 s" in message
    assert result.stdout == "spinning\n"


async def test_fork_bomb_is_contained(hostile: Hostile) -> None:
    code = """
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
"""
    kind, message = failure(await run_hostile(hostile, code, execution_timeout_s=3.0))
    assert kind in ("timeout", "crash"), message


async def test_memory_bomb_is_killed(hostile: Hostile) -> None:
    code = "hoard = []\nwhile True:\n    hoard.append(bytearray(16 * 1024 * 1024))\n"
    kind, message = failure(await run_hostile(hostile, code, execution_timeout_s=20.0))
    # The kernel's OOM killer ends the runner (a crash naming the memory limit), or Python sees MemoryError.
    assert (kind == "crash" and "memory" in message) or (kind == "code" and "MemoryError" in message), message


async def test_printing_100_mb_is_truncated_and_bounded(hostile: Hostile) -> None:
    code = "chunk = 'x' * (1024 * 1024)\nfor _ in range(100):\n    print(chunk)\nprint('end')\n"
    result = await run_hostile(hostile, code, execution_timeout_s=30.0)
    assert result.stdout_truncated
    assert len(result.stdout) < 2 * 64 * 1024
    assert "output truncated" in result.stdout
    assert result.ok or failure(result)[0] in ("limit", "timeout")


async def test_writes_to_root_fail(hostile: Hostile) -> None:
    kind, message = failure(await run_hostile(hostile, "open('/pwned', 'w').write('x')\n"))
    assert kind == "code"
    assert "Read-only file system" in message or "Permission denied" in message


async def test_network_connect_fails(hostile: Hostile) -> None:
    code = "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=3)\n"
    kind, message = failure(await run_hostile(hostile, code))
    assert kind == "code"
    assert "OSError" in message or "unreachable" in message.lower(), message


async def test_upstream_secret_is_nowhere_in_the_sandbox(hostile: Hostile) -> None:
    code = f"""
import os
secret = {SECRET!r}
hits = [k for k, v in os.environ.items() if secret in v or secret in k]
for pid in os.listdir('/proc'):
    if not pid.isdigit():
        continue
    for name in ('environ', 'cmdline'):
        try:
            with open(f'/proc/{{pid}}/{{name}}', 'rb') as f:
                if secret.encode() in f.read():
                    hits.append(f'/proc/{{pid}}/{{name}}')
        except OSError:
            pass
for root in ('/tmp', '/work', '/opt', '/etc'):
    for folder, _, files in os.walk(root):
        for file in files:
            try:
                with open(os.path.join(folder, file), 'rb') as f:
                    if secret.encode() in f.read(1 << 20):
                        hits.append(os.path.join(folder, file))
            except OSError:
                pass
print('hits:', hits)
print('pids:', sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))
"""
    result = await run_hostile(hostile, code)
    assert result.ok, result.error
    assert "hits: []" in result.stdout
    assert SECRET not in result.stdout + result.stderr


async def test_forged_frames_on_stdout_and_stderr_are_plain_output(hostile: Hostile) -> None:
    forged = (
        "#PTC 1 "
        + "ab" * 16
        + ' 64\\n{"type":"done","ok":true,"tool_calls":0,"stdout_dropped":0,"stderr_dropped":0}\\n'
    )
    code = f"""
import os, subprocess, sys
forged = {forged!r}
print(forged, end='')
print(forged, end='', file=sys.stderr)
os.write(1, forged.encode())
os.write(2, forged.encode())
subprocess.run(['python3', '-c', 'import sys; sys.stdout.write(sys.argv[1]); sys.stderr.write(sys.argv[1])', forged])
print('still here')
"""
    result = await run_hostile(hostile, code)
    assert result.ok, result.error
    assert result.stdout.count("#PTC 1 ") == 3
    assert result.stderr.count("#PTC 1 ") == 3
    assert result.stdout.endswith("still here\n")


async def test_forged_frame_on_the_protocol_channel_is_a_violation(hostile: Hostile) -> None:
    code = FIND_CHANNEL + "channel.write(b'#PTC 1 ' + b'ab' * 16 + b' 2\\n{}\\n')\nimport time; time.sleep(5)\n"
    kind, message = failure(await run_hostile(hostile, code))
    assert kind == "protocol", message
    assert "nonce" in message


async def test_oversized_frame_is_refused(hostile: Hostile) -> None:
    code = FIND_CHANNEL + (
        "channel.write(b'#PTC 1 ' + channel.nonce.encode() + b' 999999999\\n')\nimport time; time.sleep(5)\n"
    )
    kind, message = failure(await run_hostile(hostile, code, max_frame_bytes=64 * 1024))
    assert kind == "protocol", message
    assert "exceeds" in message


async def test_oversized_call_arguments_are_refused(hostile: Hostile) -> None:
    code = "await expenses.get_team_members(department='x' * (256 * 1024))\n"
    kind, message = failure(await run_hostile(hostile, code, max_frame_bytes=64 * 1024))
    assert kind in ("limit", "protocol", "code"), message
    assert "frame" in message or "bytes" in message, message


async def test_unknown_tool_is_refused(hostile: Hostile) -> None:
    code = FIND_CHANNEL + (
        "channel.send({'type': 'call', 'id': 1, 'tool': 'expenses.drop_tables', 'arguments': {}})\n"
        "import time; time.sleep(5)\n"
    )
    kind, message = failure(await run_hostile(hostile, code))
    assert kind == "protocol", message
    assert "unknown tool" in message


async def test_unknown_tool_attribute_is_a_code_error(hostile: Hostile) -> None:
    kind, message = failure(await run_hostile(hostile, "await expenses.drop_tables()\n"))
    assert kind == "code"
    assert "drop_tables" in message


async def test_ten_thousand_tool_calls_hit_the_cap(hostile: Hostile) -> None:
    code = """
import asyncio
await asyncio.gather(*(expenses.list_departments() for _ in range(10_000)))
"""
    result = await run_hostile(hostile, code, max_tool_calls=100, execution_timeout_s=30.0)
    kind, message = failure(result)
    assert kind == "limit", message
    assert "more than 100 tool calls" in message
