"""Fixtures for the one-tool server tests: a fleet file, the gateway as a subprocess, Docker checks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncGenerator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from anyio.abc import Process
from mcp import Client
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from tests._support import require

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = Path(__file__).resolve().parent / "node"
GATEWAY = str(Path(sys.executable).with_name("ptc-gateway"))


@pytest.fixture
def servers_file(tmp_path: Path) -> Path:
    """Three upstream stdio servers: the two demo servers and the test box."""
    python = sys.executable
    path = tmp_path / "servers.json"
    servers = {
        "expenses": {"command": python, "args": [str(ROOT / "examples" / "expenses_server.py")]},
        "hr": {"command": python, "args": [str(ROOT / "examples" / "hr_server.py")]},
        "testbox": {"command": python, "args": [str(Path(__file__).with_name("upstream_server.py"))]},
    }
    path.write_text(json.dumps({"mcpServers": servers}), encoding="utf-8")
    return path


@pytest.fixture
def gateway_env(tmp_path: Path) -> dict[str, str]:
    """Environment for the gateway subprocess: no stray configuration from the developer's machine."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PTC_")}
    config = tmp_path / "gateway.toml"
    config.write_text("", encoding="utf-8")
    env["PTC_CONFIG"] = str(config)
    return env


def serve_args(servers_file: Path, *extra: str, sandbox: str = "local-process") -> list[str]:
    return [GATEWAY, "-v", "serve", "--servers", str(servers_file), "--sandbox", sandbox, *extra]


@asynccontextmanager
async def http_gateway(args: list[str], env: dict[str, str]) -> AsyncGenerator[tuple[str, Process], None]:
    """Start `ptc-gateway serve --transport http --port 0`; yield its MCP URL once it listens."""
    process = await anyio.open_process([*args, "--transport", "http", "--port", "0"], env=env, stderr=subprocess.PIPE)
    assert process.stderr is not None
    lines: list[str] = []
    try:
        with anyio.fail_after(30):
            buffer = b""
            url = None
            while url is None:
                chunk = await process.stderr.receive()
                buffer += chunk
                *complete, buffer = buffer.split(b"\n")
                for line in complete:
                    text = line.decode(errors="replace")
                    lines.append(text)
                    if "serving MCP on " in text:
                        url = text.rsplit(" ", 1)[1]

        async with anyio.create_task_group() as tg:

            async def drain() -> None:
                assert process.stderr is not None
                lines.extend([chunk.decode(errors="replace") async for chunk in process.stderr])

            tg.start_soon(drain)
            yield url, process
            tg.cancel_scope.cancel()
    except BaseException:
        sys.stderr.write("gateway stderr:\n" + "\n".join(lines[-50:]) + "\n")
        raise
    finally:
        if process.returncode is None:
            process.terminate()
            with anyio.move_on_after(10, shield=True):
                await process.wait()
            if process.returncode is None:
                process.kill()
                with anyio.CancelScope(shield=True):
                    await process.wait()


def docker_ready() -> bool:
    """A reachable engine and the sandbox image."""
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(
        ["docker", "image", "inspect", "ptc-sandbox:latest"], capture_output=True, check=False, timeout=30
    )
    return probe.returncode == 0


@pytest.fixture
def docker() -> Iterator[None]:
    """Fail under CI, skip elsewhere, unless Docker and the sandbox image are there."""
    require(docker_ready(), "Docker with the ptc-sandbox:latest image", "scripts/bootstrap")
    yield


def node_tool(name: str) -> Path:
    """An npm tool installed from tests/server/node/package-lock.json."""
    path = NODE_DIR / "node_modules" / ".bin" / name
    require(path.exists(), f"npm tool {name}", "cd tests/server/node && npm ci")
    return path


class ListChanged:
    """Counts `notifications/tools/list_changed` (handshake era); use as the client's message handler."""

    def __init__(self) -> None:
        self.count = 0
        self._event = anyio.Event()

    async def __call__(self, message: object) -> None:
        if getattr(message, "method", None) == "notifications/tools/list_changed":
            self.count += 1
            self._event.set()
            self._event = anyio.Event()

    async def after(self, count: int) -> None:
        while self.count <= count:
            await self._event.wait()


STARTING = "Still starting"


async def ready_description(client: Client, changes: ListChanged) -> str:
    """The tool description once no upstream server is still starting, waiting on change notifications."""
    if client.protocol_version in MODERN_PROTOCOL_VERSIONS:
        async with client.listen(tools_list_changed=True) as subscription:
            description = await _description(client)
            if STARTING in description:
                async for _ in subscription:
                    description = await _description(client)
                    if STARTING not in description:
                        break
            return description
    seen = changes.count
    description = await _description(client)
    while STARTING in description:
        await changes.after(seen)
        seen = changes.count
        description = await _description(client)
    return description


async def _description(client: Client) -> str:
    tools = (await client.list_tools()).tools
    assert len(tools) == 1
    return tools[0].description or ""
