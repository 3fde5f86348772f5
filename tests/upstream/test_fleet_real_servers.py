"""The fleet against the five real third-party servers (both protocol eras), concurrently."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from gateway.config import StdioServerConfig
from gateway.errors import ServerUnavailableError, UnknownToolError
from gateway.tools import JsonObject, TextContent, ToolRef, ToolResult
from gateway.upstream import connect_fleet
from tests.servers import everything_server, filesystem_server, git_server, memory_server, time_server
from tests.upstream.conftest import EventLog

pytestmark = [pytest.mark.anyio, pytest.mark.servers, pytest.mark.usefixtures("servers_installed")]


def text_of(result: ToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


@pytest.mark.usefixtures("no_leftover_children")
async def test_five_servers_connect_concurrently_list_and_call(tmp_path: Path, git_repo: Path) -> None:
    root = tmp_path / "files"
    root.mkdir()
    (root / "note.txt").write_text("from the test\n", encoding="utf-8")
    servers = {
        "time": time_server(),
        "git": git_server(git_repo),
        "everything": everything_server(),
        "memory": memory_server(tmp_path / "memory.jsonl"),
        "files": filesystem_server(root),
    }
    async with connect_fleet(servers) as fleet:
        await fleet.wait_ready(timeout_s=60)
        status = fleet.status()
        assert {name: s.state for name, s in status.items()} == dict.fromkeys(sorted(servers), "ready")
        # Both eras: the PyPI servers are built on the Python SDK 2.x, the npm ones on the TS SDK 1.x.
        assert status["time"].protocol_version == "2026-07-28"
        assert status["git"].protocol_version == "2026-07-28"
        for name in ("everything", "memory", "files"):
            assert status[name].protocol_version == "2025-11-25"
        # The namespace docstrings: what the servers say about themselves (only `everything` does).
        descriptions = fleet.descriptions()
        assert list(descriptions) == ["everything"]
        assert descriptions["everything"].startswith("Everything Reference Server\n\n# Everything Server")
        assert status["everything"].description == descriptions["everything"]

        tools = await fleet.list_tools()
        keys = [(tool.server, tool.name) for tool in tools]
        assert keys == sorted(keys)
        names = {tool.server: set[str]() for tool in tools}
        for tool in tools:
            names[tool.server].add(tool.name)
        assert {"get_current_time", "convert_time"} <= names["time"]
        assert {"git_status", "git_log"} <= names["git"]
        assert {"echo", "get-sum"} <= names["everything"]
        assert {"create_entities", "read_graph"} <= names["memory"]
        assert {"read_text_file", "list_directory"} <= names["files"]
        assert all(status[name].tool_count == len(names[name]) for name in servers)

        now = await fleet.call_tool(ToolRef(server="time", name="get_current_time"), {"timezone": "UTC"})
        assert not now.is_error and now.has_structured
        assert isinstance(now.structured, dict) and now.structured["timezone"] == "UTC"

        git = await fleet.call_tool(ToolRef(server="git", name="git_log"), {"repo_path": str(git_repo)})
        assert not git.is_error and "first" in text_of(git)

        echo = await fleet.call_tool(ToolRef(server="everything", name="echo"), {"message": "hi"})
        assert text_of(echo) == "Echo: hi"

        entity: JsonObject = {"name": "gateway", "entityType": "project", "observations": ["tested"]}
        created = await fleet.call_tool(ToolRef(server="memory", name="create_entities"), {"entities": [entity]})
        assert not created.is_error
        graph = await fleet.call_tool(ToolRef(server="memory", name="read_graph"), {})
        assert "gateway" in text_of(graph)

        note = await fleet.call_tool(ToolRef(server="files", name="read_text_file"), {"path": str(root / "note.txt")})
        assert "from the test" in text_of(note)

        # A tool's own failure is a result, not an exception.
        outside = await fleet.call_tool(ToolRef(server="files", name="read_text_file"), {"path": "/etc/hostname"})
        assert outside.is_error

        with pytest.raises(UnknownToolError):
            await fleet.call_tool(ToolRef(server="nope", name="x"), {})
        with pytest.raises(UnknownToolError):
            await fleet.call_tool(ToolRef(server="time", name="no_such_tool"), {})


async def test_server_that_cannot_start_leaves_the_others_served(events: EventLog) -> None:
    servers = {
        "broken": StdioServerConfig(command="/nonexistent/mcp-server", args=["--flag"]),
        "time": time_server(),
    }
    async with connect_fleet(servers, on_event=events) as fleet:
        await fleet.wait_ready(timeout_s=60)
        status = fleet.status()
        assert status["time"].state == "ready"
        assert status["broken"].state == "failed"
        assert status["broken"].error is not None
        assert "/nonexistent/mcp-server --flag" in status["broken"].error
        assert "No such file or directory" in status["broken"].error
        assert {tool.server for tool in await fleet.list_tools()} == {"time"}
        result = await fleet.call_tool(ToolRef(server="time", name="get_current_time"), {"timezone": "Europe/Paris"})
        assert not result.is_error
        with pytest.raises(ServerUnavailableError, match="'broken' is unavailable"):
            await fleet.call_tool(ToolRef(server="broken", name="anything"), {})
    assert any(
        event.server == "broken" and event.level == "error" and "retrying" in event.message for event in events.events
    )


async def test_server_that_exits_at_start_reports_its_stderr(tmp_path: Path) -> None:
    # mcp-server-git refuses a directory that is not a repository and says so on stderr.
    async with connect_fleet({"git": git_server(tmp_path)}) as fleet:
        await fleet.wait_ready(timeout_s=60)
        status = fleet.status()["git"]
        assert status.state == "failed"
        assert status.error is not None and "is not a valid Git repository" in status.error


async def test_stdio_server_gets_only_its_configured_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTC_TEST_SECRET", "must-not-leak")
    async with connect_fleet({"everything": everything_server(env={"PTC_GIVEN": "yes"})}) as fleet:
        await fleet.wait_ready(timeout_s=60)
        result = await fleet.call_tool(ToolRef(server="everything", name="get-env"), {})
        env = json.loads(text_of(result))
        assert env["PTC_GIVEN"] == "yes"
        assert "PTC_TEST_SECRET" not in env
        assert "PATH" in env
        assert set(env) <= {"PTC_GIVEN", "HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER"}


async def test_disabled_server_is_not_started() -> None:
    async with connect_fleet({"time": time_server(disabled=True)}) as fleet:
        with anyio.fail_after(10):
            await fleet.wait_ready()
        assert fleet.status()["time"].state == "disabled"
        assert await fleet.list_tools() == []
        with pytest.raises(ServerUnavailableError, match="disabled"):
            await fleet.call_tool(ToolRef(server="time", name="get_current_time"), {})


async def test_failed_server_is_retried_with_backoff_and_recovers(tmp_path: Path, events: EventLog) -> None:
    later = tmp_path / "later"
    later.mkdir()
    async with connect_fleet({"git": git_server(later)}, on_event=events) as fleet:
        await fleet.wait_ready(timeout_s=60)
        assert fleet.status()["git"].state == "failed"
        seen = fleet.version
        await anyio.run_process(["git", "init", "-q", str(later)])  # now it is a repository
        with anyio.fail_after(60):
            while fleet.status()["git"].state != "ready":
                seen = await fleet.wait_changed(seen)
        assert fleet.status()["git"].tool_count > 0
    levels = [(event.level, event.message.split(":")[0]) for event in events.events]
    assert levels[0] == ("error", "server 'git' is unavailable")
    assert ("info", "server 'git' is back") in levels
