"""The AgentCore backend against the local endpoint: real boto3, real sessions (containers), real servers.

The executor's behavioural suite also runs against this backend (`tests/executor/conftest.py`);
here: what is specific to it (two real servers through a gateway, API-call batching, lifecycle,
warm pool ageing, faults, hostile programs that target the channel, detach / re-attach).
Every test ends with the `agentcore` fixture checking that no session was left running.
"""

from __future__ import annotations

import base64
import dataclasses
import ssl
import sys
import time
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import boto3
import pytest

from bridge.protocol import FrameDecoder, encode_frame, new_nonce
from gateway.app import open_gateway
from gateway.config import ExecutionLimits, GatewaySettings, SandboxSettings, StdioServerConfig
from gateway.errors import SandboxUnavailableError
from gateway.sandbox import AgentCoreHandle, AgentCoreSandbox, AgentCoreSandboxBackend
from gateway.tools import CallOptions, JsonValue, ToolRef, ToolResult, ToolSourceWrapper
from tests.agentcore.endpoint import PUBLIC_CODE_INTERPRETER, Endpoint
from tests.executor._fleet import STUBS, catalog, fake_source, namespaces, run
from tests.sandbox.test_end_to_end import CODE, TRACEBACK_LINE
from tests.servers import everything_server, require_installed

pytestmark = pytest.mark.anyio

EXPENSES = Path(__file__).resolve().parents[2] / "examples" / "expenses_server.py"
GATHER_100 = (
    "results = await asyncio.gather(*(calc.add(a=i, b=1) for i in range(100)))\nprint(sum(r['sum'] for r in results))"
)


def settings(**agentcore: Any) -> SandboxSettings:
    pool_size = agentcore.pop("pool_size", 0)
    return SandboxSettings(backend="agentcore", pool_size=pool_size, agentcore=agentcore)


def backend(limits: ExecutionLimits | None = None, **agentcore: Any) -> AgentCoreSandboxBackend:
    return AgentCoreSandboxBackend(settings(**agentcore), limits or ExecutionLimits())


async def test_gather_across_two_real_servers_tool_error_and_traceback_line(agentcore: Endpoint) -> None:
    require_installed()
    gateway_settings = GatewaySettings(
        servers={
            "expenses": StdioServerConfig(command=sys.executable, args=[str(EXPENSES)]),
            "everything": everything_server(),
        },
        sandbox=settings(),
    )
    async with open_gateway(gateway_settings) as gateway:
        with anyio.fail_after(60):
            await gateway.fleet.wait_ready()
        with anyio.fail_after(120):
            result = await gateway.execute(CODE)
    lines = result.stdout.splitlines()
    assert lines[0] == "True Echo: hi from the sandbox"
    assert lines[1].startswith("caught: ") and "unknown department" in lines[1]
    assert lines[2] == "True"
    assert result.tool_calls == 4
    assert result.error is not None and result.error.type == "KeyError"
    assert f'File "<code>", line {TRACEBACK_LINE}' in (result.error.traceback or "")
    assert agentcore.count("sessions/start") == agentcore.count("sessions/stop") == 1


async def test_a_gather_of_100_calls_costs_a_few_api_round_trips(agentcore: Endpoint) -> None:
    source = fake_source()
    async with backend() as ac:
        before = agentcore.count("tools/invoke", "executeCommand")
        result = await run(ac, GATHER_100, source=source)
    assert result.ok, result.error
    assert result.stdout == f"{sum(range(100)) + 100}\n"
    assert len(source.calls) == 100
    # Polls and pushes together (the job, 100 calls out, 100 results in, the done frame): a handful, not 200.
    channel_calls = agentcore.count("tools/invoke", "executeCommand") - before
    assert channel_calls <= 12, channel_calls


async def test_a_session_serves_one_execution_and_is_stopped(agentcore: Endpoint) -> None:
    async with backend() as ac:
        first = await run(ac, "open('mine.txt', 'w').write('x')\nprint('wrote')")
        second = await run(ac, "import os\nprint(os.path.exists('mine.txt'))")
        assert ac.live_sessions == frozenset()
    assert first.stdout == "wrote\n" and second.stdout == "False\n"  # fresh and stateless, as on Docker
    assert agentcore.count("sessions/start") == agentcore.count("sessions/stop") == 2


async def test_cancellation_stops_the_session(agentcore: Endpoint) -> None:
    source = fake_source()
    async with backend() as ac:
        with anyio.move_on_after(60) as scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(partial(run, ac, "print(await calc.sleep(seconds=300))", source=source))
                while source.in_flight == 0:  # the code is running and waiting on its tool call  # noqa: ASYNC110 - polled state, no event to wait on
                    await anyio.sleep(0.05)
                tg.cancel_scope.cancel()
        assert not scope.cancelled_caught
        assert ac.live_sessions == frozenset()
    assert agentcore.live_sessions() == []


async def test_closing_the_backend_stops_pooled_and_held_sessions(agentcore: Endpoint) -> None:
    ac = backend(pool_size=1)
    async with ac:
        held = await ac.acquire()  # never closed by the test
        with anyio.fail_after(60):
            while ac.pool_ready < 1:  # noqa: ASYNC110 - polled state, no event to wait on
                await anyio.sleep(0.05)
        assert len(ac.live_sessions) == 2
        assert held.info.backend == "agentcore"
    assert ac.live_sessions == frozenset()
    assert agentcore.live_sessions() == []


async def test_warm_pool_hands_out_untouched_sessions(agentcore: Endpoint) -> None:
    async with backend(pool_size=1) as ac:
        with anyio.fail_after(60):
            while ac.pool_ready < 1:  # noqa: ASYNC110 - polled state, no event to wait on
                await anyio.sleep(0.05)
        sandbox = await ac.acquire()
        try:
            assert sandbox.info.start == "warm"
            assert sandbox.info.id in ac.live_sessions
        finally:
            await sandbox.aclose()
        with anyio.fail_after(60):
            while ac.pool_ready < 1:  # refilled with a new session  # noqa: ASYNC110 - polled state, no event to wait on
                await anyio.sleep(0.05)
        result = await run(ac, "print('warm')")
        assert result.stdout == "warm\n"


async def test_pooled_sessions_too_close_to_their_lifetime_are_replaced(agentcore: Endpoint) -> None:
    # A 60 s lifetime cannot fit a 30 s execution plus the margin: pooled sessions are never handed out.
    async with backend(pool_size=1, session_timeout_s=60) as ac:
        with anyio.fail_after(60):
            while agentcore.count("sessions/start") < 1 or ac.pool_ready < 1:  # noqa: ASYNC110 - polled state, no event to wait on
                await anyio.sleep(0.05)
        pooled = set(ac.live_sessions)
        sandbox = await ac.acquire()
        try:
            assert sandbox.info.start == "cold"
            assert sandbox.info.id not in pooled
        finally:
            await sandbox.aclose()
    assert agentcore.live_sessions() == []


async def test_sessions_of_dead_gateways_on_this_host_are_reaped(agentcore: Endpoint) -> None:
    dead = await anyio.run_process([sys.executable, "-c", "import os; print(os.getpid())"])
    dead_pid = int(dead.stdout)
    async with backend() as probe:
        host, pidns, _, _ = probe.session_name().removeprefix("ptc-gateway-").split("-")
    reaped = f"ptc-gateway-{host}-{pidns}-{dead_pid}-{'a' * 12}"  # a crashed gateway here: reaped
    kept = [
        f"ptc-gateway-{host}-{pidns}-1-{'b' * 12}",  # a live process: kept
        f"ptc-gateway-{host}-{pidns}9-{dead_pid}-{'c' * 12}",  # another pid namespace (a container): kept
        f"ptc-gateway-otherhost-{pidns}-{dead_pid}-{'d' * 12}",  # another host: kept
        "someone-elses-session",  # not ours: kept
    ]
    client: Any = boto3.client("bedrock-agentcore")
    try:
        started = {
            name: client.start_code_interpreter_session(codeInterpreterIdentifier="aws.codeinterpreter.v1", name=name)[
                "sessionId"
            ]
            for name in [reaped, *kept]
        }
        async with backend() as ac:
            assert await ac.reap_orphans() == 0  # entering already reaped it
        assert set(agentcore.live_sessions()) == {started[name] for name in kept}
    finally:
        for session_id in agentcore.live_sessions():
            client.stop_code_interpreter_session(
                codeInterpreterIdentifier="aws.codeinterpreter.v1", sessionId=session_id
            )
        client.close()


# ---- faults ----------------------------------------------------------------------------------------


async def test_throttled_calls_are_retried(agentcore: Endpoint) -> None:
    async with backend(retry_base_s=0.01) as ac:
        agentcore.faults.throttle_calls = 2  # StartCodeInterpreterSession answers 429 twice
        result = await run(ac, GATHER_100)
    assert result.ok, result.error
    assert agentcore.count("sessions/start") == 3
    assert len(agentcore.sessions) == 1  # one client token for every retry: no second session


async def test_throttling_mid_stream_is_retried(agentcore: Endpoint) -> None:
    agentcore.faults = type(agentcore.faults)(throttle_streams=3, tool="executeCommand")
    async with backend(retry_base_s=0.01) as ac:
        result = await run(ac, GATHER_100)
    assert result.ok, result.error
    assert result.stdout == f"{sum(range(100)) + 100}\n"


async def test_a_stream_dropped_mid_way_is_retried_and_applied_once(agentcore: Endpoint) -> None:
    # The endpoint drops the stream after the command ran: a retried push must not deliver twice.
    agentcore.faults = type(agentcore.faults)(drop_streams=4, tool="executeCommand")
    source = fake_source()
    async with backend(retry_base_s=0.01) as ac:
        result = await run(ac, "for i in range(5):\n    print((await calc.add(a=i, b=i))['sum'])", source=source)
    assert result.ok, result.error
    assert result.stdout.split() == ["0", "2", "4", "6", "8"]
    assert len(source.calls) == 5


async def test_persistent_throttling_is_a_clear_error_and_leaks_nothing(agentcore: Endpoint) -> None:
    async with backend(retry_base_s=0.01, max_retries=2) as ac:
        agentcore.faults.throttle_calls = 100
        with pytest.raises(SandboxUnavailableError, match=r"ThrottlingException.*gave up after 3 attempts"):
            await run(ac, "print(1)")
        agentcore.faults.throttle_calls = 0
    assert agentcore.count("sessions/start") == 3


async def test_an_unknown_code_interpreter_is_a_clear_error(agentcore: Endpoint) -> None:
    async with backend(code_interpreter_id="no-such-interpreter") as ac:
        with pytest.raises(SandboxUnavailableError, match="code_interpreter_id 'no-such-interpreter' right"):
            await ac.acquire()
    assert agentcore.count("sessions/start") == 1  # not retried


class _LosingSource(ToolSourceWrapper):
    """The test fleet, except that a call makes the service lose the session the code runs in."""

    def __init__(self, endpoint: Endpoint) -> None:
        super().__init__(fake_source())
        self.endpoint = endpoint

    async def call_tool(
        self, ref: ToolRef, arguments: Mapping[str, JsonValue], *, options: CallOptions | None = None
    ) -> ToolResult:
        for session_id in self.endpoint.live_sessions():
            await anyio.to_thread.run_sync(self.endpoint.lose_session, session_id)
        return await super().call_tool(ref, arguments, options=options)


async def test_a_lost_session_is_a_clear_crash_naming_it(agentcore: Endpoint) -> None:
    async with backend(retry_base_s=0.01) as ac:
        result = await run(ac, "print('before')\nprint(await calc.add(a=1, b=2))", source=_LosingSource(agentcore))
        assert ac.live_sessions == frozenset()
    assert result.error is not None and result.error.kind == "crash", result.error
    assert "ResourceNotFoundException" in result.error.message and "AgentCore session" in result.error.message
    assert "the session is gone" in result.error.message


class _MalformingSource(ToolSourceWrapper):
    """The test fleet, except that a call makes the service answer the channel's next call with a malformed event."""

    def __init__(self, endpoint: Endpoint) -> None:
        super().__init__(fake_source())
        self.endpoint = endpoint

    async def call_tool(
        self, ref: ToolRef, arguments: Mapping[str, JsonValue], *, options: CallOptions | None = None
    ) -> ToolResult:
        self.endpoint.faults.tool = "executeCommand"  # a poll or the push of this result
        self.endpoint.faults.malformed_streams = 1
        return await super().call_tool(ref, arguments, options=options)


async def test_a_malformed_service_event_fails_its_execution_only(agentcore: Endpoint) -> None:
    async with backend() as ac:
        code = "print('before')\nprint(await calc.add(a=1, b=2))"
        broken = await run(ac, code, source=_MalformingSource(agentcore))
        after = await run(ac, "print((await calc.add(a=2, b=3))['sum'])")
    assert broken.error is not None and broken.error.kind == "crash", broken.error
    assert "malformed response from the service" in broken.error.message
    assert after.error is None and after.stdout == "5\n", after.error


# ---- hostile programs that target the channel -------------------------------------------------------


async def test_no_network_in_the_session(agentcore: Endpoint) -> None:
    async with backend() as ac:
        result = await run(ac, "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=3)\n")
    assert result.error is not None and result.error.kind == "code"
    assert "OSError" in result.error.message or "unreachable" in result.error.message.lower()


async def test_an_infinite_loop_times_out_and_the_session_is_stopped(agentcore: Endpoint) -> None:
    async with backend() as ac:
        result = await run(
            ac, "print('spinning')\nwhile True:\n    pass\n", limits=ExecutionLimits(execution_timeout_s=3)
        )
        assert ac.live_sessions == frozenset()
    assert result.error is not None and result.error.kind == "timeout"
    assert result.stdout == "spinning\n"


async def test_calls_in_flight_end_before_the_deadline_and_the_session_stops(agentcore: Endpoint) -> None:
    code = "print('started')\nawait calc.add(a=1, b=2)\nawait asyncio.gather(*(calc.sleep(seconds=600) for _ in 'ab'))"
    async with backend() as ac:
        result = await run(ac, code, limits=ExecutionLimits(execution_timeout_s=10))
        assert ac.live_sessions == frozenset()
    assert result.error is not None and result.error.kind == "tool", result.error
    assert result.error.message.startswith(
        "calc.sleep: no answer before the execution's deadline (execution_timeout_s=10"
    )
    assert result.stdout == "started\n"


TAMPER = """
import glob, os
relay_dir = os.path.dirname(os.getcwd())
with open(os.path.join(relay_dir, "out.bin"), "ab") as out:
    out.write(b"#PTC 1 " + b"f" * 32 + b" 12\\n" + b'{"type":"x"}\\n')
print(await calc.add(a=1, b=1))
"""

REWRITE_RELAY = """
import os
relay = os.path.join(os.path.dirname(os.getcwd()), "relay.py")
open(relay, "w").write("import sys\\nprint('{\\"data\\": 12}')\\n")
print(await calc.add(a=1, b=1))
"""


async def test_code_that_forges_the_channel_files_is_a_violation(agentcore: Endpoint) -> None:
    async with backend() as ac:
        result = await run(ac, TAMPER)
    assert result.error is not None and result.error.kind == "protocol", result.error


async def test_code_that_rewrites_the_relay_ends_in_a_clear_error(agentcore: Endpoint) -> None:
    async with backend() as ac:
        result = await run(ac, REWRITE_RELAY)
    assert result.error is not None and result.error.kind == "crash", result.error
    assert "malformed poll reply" in result.error.message


HOSTILE_RELAY = """
import os
relay = os.path.join(os.path.dirname(os.getcwd()), "relay.py")
open(relay, "w").write({reply!r})
print(await calc.add(a=1, b=1))
"""


@pytest.mark.parametrize(
    ("relay", "error"),
    [
        ("print('[' * 100000)\n", "malformed poll reply"),  # RecursionError in json.loads
        ('print(\'{"data": "", "exit": true}\')\n', "poll reply out of bounds"),
        ('print(\'{"data": "", "exit": 100000000000000000000}\')\n', "poll reply out of bounds"),
    ],
    ids=["nested", "exit-bool", "exit-huge"],
)
async def test_a_hostile_relay_reply_fails_its_execution_only(agentcore: Endpoint, relay: str, error: str) -> None:
    async with backend() as ac:
        hostile = await run(ac, HOSTILE_RELAY.format(reply=relay))
        after = await run(ac, "print((await calc.add(a=2, b=3))['sum'])")
    assert hostile.error is not None and hostile.error.kind == "crash", hostile.error
    assert error in hostile.error.message, hostile.error.message
    assert after.error is None and after.stdout == "5\n", after.error


# ---- channel option 2: the runner connects back over TLS ----------------------------------------------


def connect_back(**agentcore: Any) -> AgentCoreSandboxBackend:
    return backend(channel="connect-back", code_interpreter_id=PUBLIC_CODE_INTERPRETER, **agentcore)


async def test_connect_back_token_is_single_use_and_never_seen_by_the_code(agentcore: Endpoint) -> None:
    async with connect_back() as ac:
        listener = ac.connect_back
        assert listener is not None
        result = await run(ac, "import os\nprint(os.path.exists('../token'), os.path.exists('../ca.pem'))")
        assert result.stdout == "False True\n", result.error
        # A client with the gateway's certificate but a bad token is refused; so is a used one.
        context = ssl.create_default_context(cadata=listener.ca_pem)
        for token in ("not-a-token", "x" * 43):
            stream = await anyio.connect_tcp(
                listener.address, listener.port, ssl_context=context, tls_standard_compatible=False
            )
            await stream.send(b"PTC-CONNECT 1 " + token.encode() + b"\n")
            with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                with anyio.fail_after(10):
                    await stream.receive()
            await stream.aclose()
        assert listener.refused == 2


async def test_connect_back_from_a_session_without_network_is_a_clear_error(agentcore: Endpoint) -> None:
    ac = AgentCoreSandboxBackend(
        SandboxSettings(backend="agentcore", pool_size=0, start_timeout_s=5, agentcore={"channel": "connect-back"}),
        ExecutionLimits(),
    )
    async with ac:
        with pytest.raises(SandboxUnavailableError, match="did not connect back.*PUBLIC or VPC network mode"):
            await ac.acquire()
        assert ac.live_sessions == frozenset()


# ---- resuming from another process ---------------------------------------------------------------


KEY = b"a key the gateway processes share"


def _job(nonce: str) -> bytes:
    cat = catalog()
    job: dict[str, Any] = {
        "type": "job",
        "code": "print('got', (await calc.add(a=2, b=3))['sum'])",
        "stubs": STUBS,
        "namespaces": namespaces(cat),
        "limits": {},
        "helpers": False,
    }
    return encode_frame(nonce, job)


async def _frames(sandbox: AgentCoreSandbox, decoder: FrameDecoder, until: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    with anyio.fail_after(60):
        while not any(frame["type"] == until for frame in seen):
            seen.extend(message for _, message in decoder.feed(await sandbox.receive()))
    return seen


async def test_a_running_execution_is_resumed_from_a_handle_by_another_backend(agentcore: Endpoint) -> None:
    nonce = new_nonce()
    async with backend() as first:
        sandbox = await first.acquire()
        assert isinstance(sandbox, AgentCoreSandbox)
        await sandbox.send(_job(nonce))
        frames = await _frames(sandbox, FrameDecoder(nonce=nonce), until="call")
        call = next(frame for frame in frames if frame["type"] == "call")
        token = (await sandbox.detach()).sign(KEY)  # the pause: the first process lets go
        assert first.live_sessions == frozenset()
    assert len(agentcore.live_sessions()) == 1  # detached: still running, the code still waiting

    with pytest.raises(SandboxUnavailableError, match="signature does not match"):
        AgentCoreHandle.verify(token, b"another key")
    body, _, mac = token.partition(".")
    forged = AgentCoreHandle.from_json(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    forged_body = base64.urlsafe_b64encode(dataclasses.replace(forged, offset=0).to_json().encode()).decode()
    with pytest.raises(SandboxUnavailableError, match="signature does not match"):
        AgentCoreHandle.verify(forged_body.rstrip("=") + "." + mac, KEY)
    handle = AgentCoreHandle.verify(token, KEY)
    async with backend() as second:  # another gateway process
        resumed = await second.attach(handle)
        try:
            result = {"type": "result", "id": call["id"], "ok": True, "kind": "json", "value": {"sum": 5}}
            await resumed.send(encode_frame(nonce, result))
            rest = await _frames(resumed, FrameDecoder(nonce=nonce), until="done")
        finally:
            await resumed.aclose()
    printed = "".join(f["data"] for f in rest if f["type"] == "output")
    assert printed == "got 5\n"
    assert next(f for f in rest if f["type"] == "done")["ok"] is True


def test_an_expired_handle_is_refused() -> None:
    handle = AgentCoreHandle(
        code_interpreter_id="aws.codeinterpreter.v1",
        session_id="s1",
        directory="ptc-x",
        offset=0,
        next_push=1,
        expires_at=time.time() - 1,
    )
    with pytest.raises(SandboxUnavailableError, match="has expired"):
        AgentCoreHandle.verify(handle.sign(KEY), KEY)


async def test_attaching_to_a_stopped_session_is_a_clear_error(agentcore: Endpoint) -> None:
    async with backend() as ac:
        sandbox = await ac.acquire()
        assert isinstance(sandbox, AgentCoreSandbox)
        handle = sandbox.handle()
        await sandbox.aclose()
        with pytest.raises(SandboxUnavailableError, match="no longer running"):
            await ac.attach(handle)
