"""The fleet against our own Python SDK 2.x server: timeouts, crashes, list changes, HTTP in both eras."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from gateway.config import RemoteServerConfig, StdioServerConfig
from gateway.tools import (
    AudioContent,
    ImageContent,
    JsonValue,
    ResourceContent,
    ResourceLinkContent,
    TextContent,
    ToolRef,
    ToolResult,
)
from gateway.upstream import Fleet, connect_fleet
from tests.upstream._http import HandshakeEra, serve_http
from tests.upstream.conftest import EventLog, child_pids
from tests.upstream.sdk2_server import build_server

pytestmark = [pytest.mark.anyio, pytest.mark.servers]


def number(result: ToolResult) -> int:
    assert isinstance(result.structured, dict)
    value = result.structured["result"]
    assert isinstance(value, int)
    return value


async def names(fleet: Fleet, server: str) -> set[str]:
    return {tool.name for tool in await fleet.list_tools() if tool.server == server}


async def test_killed_stdio_child_is_restarted_on_next_use(sdk2_server: StdioServerConfig, events: EventLog) -> None:
    async with connect_fleet({"sdk2": sdk2_server}, on_event=events) as fleet:
        await fleet.wait_ready(timeout_s=60)
        first = number(await fleet.call_tool(ToolRef(server="sdk2", name="pid"), {}))
        assert first in child_pids()
        os.kill(first, signal.SIGKILL)
        with anyio.fail_after(60):
            second = number(await fleet.call_tool(ToolRef(server="sdk2", name="pid"), {}))
        assert second != first
        assert fleet.status()["sdk2"].state == "ready"
    assert any(event.level == "warning" and "restarting" in event.message for event in events.events)


async def test_stdio_2026_server_list_changed_refreshes_the_catalog(sdk2_server: StdioServerConfig) -> None:
    async with connect_fleet({"sdk2": sdk2_server}) as fleet:
        await fleet.wait_ready(timeout_s=60)
        assert fleet.status()["sdk2"].protocol_version == "2026-07-28"
        seen = fleet.version
        assert "fresh_tool" not in await names(fleet, "sdk2")
        assert await fleet.find_tool(ToolRef(server="sdk2", name="fresh_tool")) is None
        await fleet.call_tool(ToolRef(server="sdk2", name="add_tool"), {"name": "fresh_tool"})
        with anyio.fail_after(30):
            while "fresh_tool" not in await names(fleet, "sdk2"):
                seen = await fleet.wait_changed(seen)
        found = await fleet.find_tool(ToolRef(server="sdk2", name="fresh_tool"))
        assert found is not None and found in await fleet.list_tools()
        assert await fleet.find_tool(ToolRef(server="nope", name="fresh_tool")) is None
        result = await fleet.call_tool(ToolRef(server="sdk2", name="fresh_tool"), {})
        assert result.structured == {"result": "I am fresh_tool"}


async def test_meta_and_progress_pass_through(sdk2_server: StdioServerConfig) -> None:
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with connect_fleet({"sdk2": sdk2_server}) as fleet:
        await fleet.wait_ready(timeout_s=60)
        meta = await fleet.call_tool(
            ToolRef(server="sdk2", name="request_meta"), {}, options={"meta": {"traceparent": traceparent}}
        )
        assert isinstance(meta.structured, dict) and meta.structured["traceparent"] == traceparent
        counted = await fleet.call_tool(
            ToolRef(server="sdk2", name="count"), {"n": 3}, options={"progress": on_progress}
        )
        assert number(counted) == 3
    assert progress == [(1.0, 3.0, "step 1"), (2.0, 3.0, "step 2"), (3.0, 3.0, "step 3")]


async def test_shutdown_leaves_no_child_process(faulty_server: StdioServerConfig) -> None:
    before = child_pids()
    async with connect_fleet({"a": faulty_server, "b": faulty_server}) as fleet:
        await fleet.wait_ready(timeout_s=60)
        assert len(child_pids() - before) == 2
        # A call in flight at shutdown is cancelled with everything else.
        async with anyio.create_task_group() as tg:
            no_arguments: dict[str, JsonValue] = {}
            tg.start_soon(fleet.call_tool, ToolRef(server="a", name="hang"), no_arguments)
            await anyio.lowlevel.checkpoint()
            tg.cancel_scope.cancel()
    assert child_pids() - before == set()


async def test_streamable_http_2026_server() -> None:
    server = build_server()
    async with serve_http(server.streamable_http_app()) as url:
        async with connect_fleet({"remote": RemoteServerConfig(url=url, timeout=20)}) as fleet:
            await fleet.wait_ready(timeout_s=30)
            status = fleet.status()["remote"]
            assert status.state == "ready" and status.protocol_version == "2026-07-28"
            echo = await fleet.call_tool(ToolRef(server="remote", name="echo"), {"text": "over http"})
            assert echo.structured == {"result": "over http"}
            seen = fleet.version
            await fleet.call_tool(ToolRef(server="remote", name="add_tool"), {"name": "http_tool"})
            with anyio.fail_after(30):
                while "http_tool" not in await names(fleet, "remote"):
                    seen = await fleet.wait_changed(seen)


async def test_streamable_http_2025_server_session_expiry_is_recovered() -> None:
    server = build_server()
    app = HandshakeEra(server.streamable_http_app())
    async with serve_http(app) as url:
        async with connect_fleet({"remote": RemoteServerConfig(url=url, timeout=20)}) as fleet:
            await fleet.wait_ready(timeout_s=30)
            status = fleet.status()["remote"]
            assert status.state == "ready" and status.protocol_version == "2025-11-25"
            assert app.discover_refused >= 1 and len(app.issued) == 1

            # tools/list_changed arrives as a notification on the handshake era.
            seen = fleet.version
            await fleet.call_tool(ToolRef(server="remote", name="add_tool"), {"name": "legacy_tool"})
            with anyio.fail_after(30):
                while "legacy_tool" not in await names(fleet, "remote"):
                    seen = await fleet.wait_changed(seen)

            # The server forgets the session (HTTP 404): the next call re-establishes it transparently.
            app.expire_sessions()
            echo = await fleet.call_tool(ToolRef(server="remote", name="echo"), {"text": "after expiry"})
            assert echo.structured == {"result": "after expiry"}
            assert len(app.issued) == 2
            assert fleet.status()["remote"].state == "ready"


async def test_remote_server_that_is_down_is_isolated() -> None:
    # Nothing listens on this loopback port (bound, never accepting).
    with anyio.fail_after(60):
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        await listener.aclose()
        async with connect_fleet({"down": RemoteServerConfig(url=f"http://127.0.0.1:{port}/mcp", timeout=5)}) as fleet:
            await fleet.wait_ready()
            status = fleet.status()["down"]
            assert status.state == "failed" and status.error


async def test_legacy_sse_server() -> None:
    server = build_server()
    async with serve_http(server.sse_app()) as url:
        sse_url = url.removesuffix("/mcp") + "/sse"
        async with connect_fleet({"sse": RemoteServerConfig(url=sse_url, type="sse", timeout=20)}) as fleet:
            await fleet.wait_ready(timeout_s=30)
            status = fleet.status()["sse"]
            assert status.state == "ready", status.error
            echo = await fleet.call_tool(ToolRef(server="sse", name="echo"), {"text": "over sse"})
            assert echo.structured == {"result": "over sse"}


async def test_server_that_hangs_at_start_fails_alone(sdk2_server: StdioServerConfig, events: EventLog) -> None:
    before = child_pids()
    silent = StdioServerConfig(command="sleep", args=["3600"], timeout=1.0)
    async with connect_fleet({"silent": silent, "sdk2": sdk2_server}, on_event=events) as fleet:
        await fleet.wait_ready(timeout_s=60)
        status = fleet.status()
        assert status["sdk2"].state == "ready"
        assert status["silent"].state == "failed"
        assert status["silent"].error is not None
        assert "no answer to the MCP handshake within 1 s" in status["silent"].error
        assert "sleep 3600" in status["silent"].error
        echo = await fleet.call_tool(ToolRef(server="sdk2", name="echo"), {"text": "fine"})
        assert echo.structured == {"result": "fine"}
    assert child_pids() - before == set()
    assert [event.server for event in events.events if event.level == "error"][:1] == ["silent"]


async def test_a_server_listing_more_than_max_tools_gives_the_first_ones_and_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # 7 tools in pages of 3: the cap falls inside the second page, and the third is never asked for.
    paged = StdioServerConfig(
        command=sys.executable, args=[str(Path(__file__).with_name("paged_server.py"))], max_tools=4
    )
    async with connect_fleet({"paged": paged}) as fleet:
        await fleet.wait_ready(timeout_s=60)
        assert fleet.status()["paged"].state == "ready", fleet.status()["paged"].error
        tools = await fleet.list_tools()
    assert [tool.name for tool in tools] == [f"tool-{index}" for index in range(4)]
    assert "server 'paged' lists more than 4 tools; the first 4 are used (raise its max_tools" in caplog.text


async def test_paginated_listing_and_content_conversion() -> None:
    paged = StdioServerConfig(command=sys.executable, args=[str(Path(__file__).with_name("paged_server.py"))])
    async with connect_fleet({"paged": paged}) as fleet:
        await fleet.wait_ready(timeout_s=60)
        assert fleet.status()["paged"].state == "ready", fleet.status()["paged"].error
        tools = await fleet.list_tools()
        assert [tool.name for tool in tools] == sorted([f"tool-{index}" for index in range(6)] + ["mixed"])
        tool0 = next(tool for tool in tools if tool.name == "tool-0")
        assert tool0.title == "Tool 0" and tool0.annotations.read_only is True
        assert tool0.input_schema == {"type": "object", "properties": {"x": {"type": "integer"}}}
        mixed = next(tool for tool in tools if tool.name == "mixed")
        assert mixed.output_schema == {"type": "object", "properties": {"ok": {"type": "boolean"}}}

        result = await fleet.call_tool(ToolRef(server="paged", name="mixed"), {})
        assert result.structured == {"ok": True} and result.has_structured and not result.is_error
        assert result.content == (
            TextContent(text="hello"),
            ImageContent(data="aGk=", mime_type="image/png"),
            AudioContent(data="aGk=", mime_type="audio/wav"),
            ResourceLinkContent(uri="file:///a.txt", name="a.txt", mime_type="text/plain"),
            ResourceContent(uri="file:///b.txt", text="bee"),
            ResourceContent(uri="file:///c.bin", blob="AAE="),
        )
