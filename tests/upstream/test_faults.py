"""The fleet against the fault-injecting server (`faulty_server.py`): each fault stays with its call."""

from __future__ import annotations

import contextlib
import sys
import tracemalloc
from typing import Any

import anyio
import pytest

from gateway.config import RemoteServerConfig, StdioServerConfig
from gateway.errors import ServerUnavailableError
from gateway.tools import JsonValue, TextContent, ToolRef, ToolResult
from gateway.upstream import Fleet, connect_fleet
from tests.servers import time_server
from tests.upstream._http import HandshakeEra, serve_http
from tests.upstream.conftest import faulty_stdio
from tests.upstream.faulty_server import FaultyHttp, build_server

pytestmark = [pytest.mark.anyio, pytest.mark.servers]


def number(result: ToolResult) -> int:
    assert isinstance(result.structured, dict)
    value = result.structured["result"]
    assert isinstance(value, int)
    return value


async def echo(fleet: Fleet, server: str, text: str) -> str:
    result = await fleet.call_tool(ToolRef(server=server, name="echo"), {"text": text})
    assert not result.is_error, result
    assert isinstance(result.structured, dict)
    return str(result.structured["result"])


@pytest.mark.usefixtures("servers_installed")
async def test_hanging_call_times_out_and_the_rest_keeps_working(faulty_server: StdioServerConfig) -> None:
    async with connect_fleet({"faulty": faulty_server, "time": time_server()}) as fleet:
        await fleet.wait_ready(timeout_s=60)
        with pytest.raises(ServerUnavailableError, match=r"'faulty' did not answer within 0\.5 s.*'hang'"):
            await fleet.call_tool(ToolRef(server="faulty", name="hang"), {}, options={"timeout_s": 0.5})
        assert await echo(fleet, "faulty", "still here") == "still here"
        now = await fleet.call_tool(ToolRef(server="time", name="get_current_time"), {"timezone": "UTC"})
        assert not now.is_error
        assert fleet.status()["faulty"].state == "ready"


async def test_server_configured_timeout_applies() -> None:
    async with connect_fleet({"faulty": faulty_stdio(timeout=1.0)}) as fleet:
        await fleet.wait_ready(timeout_s=60)
        with pytest.raises(ServerUnavailableError, match="within 1 s"):
            await fleet.call_tool(ToolRef(server="faulty", name="hang"), {})


@pytest.mark.usefixtures("servers_installed")
async def test_crash_during_a_call_fails_that_call_only(faulty_server: StdioServerConfig) -> None:
    async with connect_fleet({"faulty": faulty_server, "time": time_server()}) as fleet:
        await fleet.wait_ready(timeout_s=60)
        first = number(await fleet.call_tool(ToolRef(server="faulty", name="pid"), {}))
        # Not read-only nor idempotent: never resent, the caller is told what happened.
        with pytest.raises(ServerUnavailableError, match="closed the connection during the call to 'crash'"):
            await fleet.call_tool(ToolRef(server="faulty", name="crash"), {})
        with anyio.fail_after(60):
            second = number(await fleet.call_tool(ToolRef(server="faulty", name="pid"), {}))
        assert second != first
        now = await fleet.call_tool(ToolRef(server="time", name="get_current_time"), {"timezone": "UTC"})
        assert not now.is_error


async def test_garbage_on_stdout_is_skipped(faulty_server: StdioServerConfig) -> None:
    async with connect_fleet({"faulty": faulty_server}) as fleet:
        await fleet.wait_ready(timeout_s=60)
        pid = number(await fleet.call_tool(ToolRef(server="faulty", name="pid"), {}))
        with anyio.fail_after(30):
            result = await fleet.call_tool(ToolRef(server="faulty", name="garbage"), {})
        assert result.content == (TextContent(text="after garbage"),)
        assert await echo(fleet, "faulty", "clean again") == "clean again"
        assert number(await fleet.call_tool(ToolRef(server="faulty", name="pid"), {})) == pid  # no restart


async def test_slow_start_within_the_timeout_is_waited_for() -> None:
    async with connect_fleet({"slow": faulty_stdio(timeout=20, slow_start_s=1.5)}) as fleet:
        # A call that arrives while the server is starting waits for it.
        with anyio.fail_after(30):
            assert await echo(fleet, "slow", "finally") == "finally"
        assert fleet.status()["slow"].state == "ready"


async def test_slow_start_beyond_the_timeout_fails_alone() -> None:
    async with connect_fleet({"slow": faulty_stdio(timeout=0.5, slow_start_s=30), "ok": faulty_stdio()}) as fleet:
        await fleet.wait_ready(timeout_s=60)
        status = fleet.status()
        assert status["slow"].state == "failed" and "within 0.5 s" in (status["slow"].error or "")
        assert await echo(fleet, "ok", "fine") == "fine"


async def test_http_500_fails_that_call_and_the_server_recovers() -> None:
    app = FaultyHttp(build_server().streamable_http_app())
    async with serve_http(app) as url, connect_fleet({"web": RemoteServerConfig(url=url, timeout=20)}) as fleet:
        await fleet.wait_ready(timeout_s=30)
        assert fleet.status()["web"].state == "ready", fleet.status()["web"].error
        app.fail_next(1)
        failed = await fleet.call_tool(ToolRef(server="web", name="echo"), {"text": "lost"})
        assert failed.is_error and app.failed == 1
        assert await echo(fleet, "web", "served again") == "served again"


async def test_session_expiry_is_recovered() -> None:
    app = HandshakeEra(FaultyHttp(build_server().streamable_http_app()))
    async with serve_http(app) as url, connect_fleet({"web": RemoteServerConfig(url=url, timeout=20)}) as fleet:
        await fleet.wait_ready(timeout_s=30)
        assert fleet.status()["web"].protocol_version == "2025-11-25"
        app.expire_sessions()
        assert await echo(fleet, "web", "after expiry") == "after expiry"
        assert len(app.issued) == 2


HUGE_MB = 20
LIMIT_BYTES = 1024 * 1024


async def test_a_huge_stdio_result_fails_that_call_unread_and_the_server_keeps_serving() -> None:
    config = faulty_stdio().model_copy(update={"max_message_bytes": LIMIT_BYTES})
    async with connect_fleet({"faulty": config}) as fleet:
        await fleet.wait_ready(timeout_s=60)
        pid = number(await fleet.call_tool(ToolRef(server="faulty", name="pid"), {}))
        tracemalloc.start()
        try:
            with anyio.fail_after(60):
                result = await fleet.call_tool(ToolRef(server="faulty", name="huge"), {"megabytes": HUGE_MB})
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert result.is_error
        (block,) = result.content
        assert isinstance(block, TextContent)
        assert f"over its limit of {LIMIT_BYTES} bytes (max_message_bytes)" in block.text
        assert peak < 4 * LIMIT_BYTES  # never held whole (the SDK's reader held all 20 MB, several times)
        # In sync: the same process answers the next calls.
        assert number(await fleet.call_tool(ToolRef(server="faulty", name="pid"), {})) == pid
        assert await echo(fleet, "faulty", "after the flood") == "after the flood"


@pytest.mark.parametrize("handshake_era", [False, True], ids=["json-body", "sse-event"])
async def test_a_huge_http_result_fails_that_call_and_the_server_keeps_serving(handshake_era: bool) -> None:
    # A 2026-07-28 server answers a call with a JSON body; a 2025-era session answers on an SSE stream.
    app: Any = build_server().streamable_http_app()
    if handshake_era:
        app = HandshakeEra(app)
    config = RemoteServerConfig(url="", timeout=60, max_message_bytes=LIMIT_BYTES)
    async with serve_http(app) as url, connect_fleet({"web": config.model_copy(update={"url": url})}) as fleet:
        await fleet.wait_ready(timeout_s=30)
        assert fleet.status()["web"].state == "ready", fleet.status()["web"].error
        with anyio.fail_after(60):
            result = await fleet.call_tool(ToolRef(server="web", name="huge"), {"megabytes": 5})
        assert result.is_error
        (block,) = result.content
        assert isinstance(block, TextContent)
        assert f"limit of {LIMIT_BYTES} bytes (max_message_bytes)" in block.text
        assert await echo(fleet, "web", "after the flood") == "after the flood"
        assert fleet.status()["web"].state == "ready"


def _nested(levels: int) -> JsonValue:
    value: JsonValue = []
    for _ in range(levels):
        value = [value]
    return value


# What a sandbox can send in a call frame (the host's `json.loads` takes both) but the SDK cannot serialise.
UNSENDABLE: dict[str, tuple[JsonValue, str]] = {
    "lone-surrogate": ("a\ud800b", "surrogates not allowed"),
    "nested-300-deep": (_nested(300), "depth"),
}


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_unsendable_arguments_fail_that_call_and_the_connection_stays(transport: str) -> None:
    # The SDK serialises a request in its transport's writer task: arguments it cannot encode ended the
    # whole connection (every call in flight to that server failed, a stdio server was restarted).
    async with contextlib.AsyncExitStack() as stack:
        if transport == "stdio":
            config: StdioServerConfig | RemoteServerConfig = faulty_stdio()
        else:
            url = await stack.enter_async_context(serve_http(build_server().streamable_http_app()))
            config = RemoteServerConfig(url=url, timeout=60)
        fleet = await stack.enter_async_context(connect_fleet({"faulty": config}))
        await fleet.wait_ready(timeout_s=60)
        pid = number(await fleet.call_tool(ToolRef(server="faulty", name="pid"), {}))
        for value, reason in UNSENDABLE.values():
            with anyio.fail_after(30):
                result = await fleet.call_tool(ToolRef(server="faulty", name="echo"), {"text": value})
            assert result.is_error
            (block,) = result.content
            assert isinstance(block, TextContent)
            assert block.text.startswith("faulty.echo: the arguments cannot be sent as JSON")
            assert reason in block.text
            block.text.encode("utf-8")  # the message itself carries no lone surrogate
        assert number(await fleet.call_tool(ToolRef(server="faulty", name="pid"), {})) == pid  # never restarted
        assert await echo(fleet, "faulty", "still connected") == "still connected"
        assert fleet.status()["faulty"].state == "ready"


STDERR_FLOOD_MB = 64


async def test_a_huge_stderr_line_is_not_held_and_its_end_is_still_reported() -> None:
    # A server that writes 64 MB to stderr without a newline, then a last line, and exits. The relay grew
    # one buffer for the whole line (copied and re-split on every 64 KiB read: quadratic, on the event loop).
    script = (
        "import sys\n"
        f"for _ in range({STDERR_FLOOD_MB * 16}): sys.stderr.write('x' * 65536)\n"
        "sys.stderr.write('\\nfatal: out of patience\\n')\n"
    )
    config = StdioServerConfig(command=sys.executable, args=["-c", script], timeout=60)
    tracemalloc.start()
    try:
        async with connect_fleet({"noisy": config}) as fleet:
            await fleet.wait_ready(timeout_s=60)
            status = fleet.status()["noisy"]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status.state == "failed"
    assert status.error is not None and status.error.endswith("fatal: out of patience")
    assert peak < 8 * 1024 * 1024, peak
    assert "more bytes dropped" in status.error  # the flood's line, cut
