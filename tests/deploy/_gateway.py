"""The gateway image and gateway containers for the deployment tests.

The image is built once per test session with `ptc-gateway image build --gateway` (the engine's
build cache makes a rebuild quick when neither the code nor the dependencies changed). Gateway
containers share the host's network namespace (this engine runs without a bridge), bind 127.0.0.1
only, and reach the engine through the mounted socket; every one carries a label unique to the test
run, and the helpers remove them (and check their sandbox containers) however a test ends.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests._support import require
from tests.sandbox._docker import TEST_IMAGE, docker_settings
from tests.server.conftest import ListChanged

ROOT = Path(__file__).resolve().parents[2]
GATEWAY_CLI = str(Path(sys.executable).with_name("ptc-gateway"))
GATEWAY_IMAGE = os.environ.get("PTC_TEST_GATEWAY_IMAGE", "ptc-gateway:test")
RUN_LABEL = "ptc-gateway-test.run"
RUN_ID = uuid.uuid4().hex
TOKEN = "deploy-test-" + uuid.uuid4().hex
SOCKET = "/var/run/docker.sock"
DEMO_CODE = (ROOT / "examples" / "demo.py").read_text(encoding="utf-8").split('MODEL_CODE = """\\\n')[1].split('"""')[0]


def docker(*args: str, check: bool = True, timeout: float = 120) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: exit {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout.strip()


@functools.cache
def _build() -> tuple[str | None, float]:
    started = time.perf_counter()
    proc = subprocess.run(
        [GATEWAY_CLI, "image", "build", "--gateway", "--tag", GATEWAY_IMAGE],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        return f"building {GATEWAY_IMAGE} failed:\n{proc.stderr[-3000:]}", elapsed
    sys.stderr.write(f"\n[tests/deploy] built {GATEWAY_IMAGE} in {elapsed:.1f} s\n")
    return None, elapsed


def gateway_image() -> str:
    """The gateway image of this checkout (built once per session). Fails under CI, skips elsewhere."""
    docker_settings()  # the engine and the sandbox image
    require(os.path.exists(SOCKET), f"the Docker socket at {SOCKET}", "scripts/ensure-docker")
    problem, _ = _build()
    require(problem is None, f"the gateway image ({problem})", f"{GATEWAY_CLI} image build --gateway")
    return GATEWAY_IMAGE


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as server:
        return int(server.getsockname()[1])


def sandboxes_of(container_id: str) -> list[str]:
    """Sandbox containers (running or not) started by the gateway in this container."""
    return docker("ps", "-aq", "--no-trunc", "--filter", f"label=ptc-gateway.container={container_id}").split()


@dataclass(frozen=True, slots=True)
class GatewayContainer:
    id: str
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"


def start_gateway(*, port: int, pool_size: int = 1, extra_env: dict[str, str] | None = None) -> GatewayContainer:
    """`docker run` the gateway image serving the demo fleet over HTTP on 127.0.0.1:`port`."""
    env = {
        "PTC_CONFIG": "/etc/ptc-gateway/gateway.toml",
        "PTC_SERVE__HOST": "127.0.0.1",  # host network: loopback only
        "PTC_SERVE__PORT": str(port),
        "PTC_AUTH_TOKEN": TOKEN,
        "PTC_SANDBOX__IMAGE": TEST_IMAGE,
        "PTC_SANDBOX__POOL_SIZE": str(pool_size),
        **(extra_env or {}),
    }
    gid = str(os.stat(SOCKET).st_gid)
    args = ["run", "-d", "--name", f"ptc-gw-test-{uuid.uuid4().hex[:12]}", "--label", f"{RUN_LABEL}={RUN_ID}"]
    args += ["--network", "host", "--group-add", gid, "-v", f"{SOCKET}:{SOCKET}"]
    args += ["-v", f"{ROOT / 'examples'}:/srv/ptc/examples:ro"]
    args += ["-v", f"{ROOT / 'deploy' / 'gateway.toml'}:/etc/ptc-gateway/gateway.toml:ro"]
    for key, value in env.items():
        args += ["-e", f"{key}={value}"]
    container_id = docker(*args, GATEWAY_IMAGE, "-v", "serve")
    return GatewayContainer(id=container_id, port=port)


async def wait_serving(gateway: GatewayContainer, *, timeout_s: float = 90) -> None:
    """Follow the container's log until it says it serves (or fail with the log when it exits)."""
    lines: list[str] = []
    with anyio.fail_after(timeout_s):
        async with await anyio.open_process(
            ["docker", "logs", "-f", gateway.id], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        ) as follower:
            assert follower.stdout is not None
            buffer = b""
            try:
                async for chunk in follower.stdout:
                    buffer += chunk
                    *complete, buffer = buffer.split(b"\n")
                    lines.extend(line.decode(errors="replace") for line in complete)
                    if any("serving MCP on " in line for line in lines):
                        return
            finally:
                follower.kill()
    raise AssertionError("the gateway container exited before serving:\n" + "\n".join(lines[-40:]))


def remove_gateway(gateway: GatewayContainer) -> None:
    docker("rm", "-f", gateway.id, check=False)


def remove_run_leftovers() -> None:
    """Every gateway container of this test run, and every sandbox container they started."""
    for container_id in docker("ps", "-aq", "--no-trunc", "--filter", f"label={RUN_LABEL}={RUN_ID}").split():
        leftovers = sandboxes_of(container_id)
        docker("rm", "-f", container_id, *leftovers, check=False)


@asynccontextmanager
async def gateway_container(*, pool_size: int = 1) -> AsyncIterator[GatewayContainer]:
    """A serving gateway container; stopped gracefully (SIGTERM) at the end."""
    gateway = start_gateway(port=free_port(), pool_size=pool_size)
    try:
        await wait_serving(gateway)
        yield gateway
        await anyio.to_thread.run_sync(functools.partial(docker, "stop", "-t", "30", gateway.id))
    finally:
        await anyio.to_thread.run_sync(functools.partial(remove_gateway, gateway))


@asynccontextmanager
async def mcp_client(url: str, *, mode: str, changes: ListChanged | None = None) -> AsyncIterator[Client]:
    """The real MCP SDK client with the bearer token, in `mode` ("legacy": 2025-11-25, "auto": 2026-07-28)."""
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120) as http,
        Client(
            streamable_http_client(url, http_client=http),
            mode=mode,  # type: ignore[arg-type]
            message_handler=changes,
        ) as client,
    ):
        yield client


def answer_names(stdout: str) -> list[str]:
    return sorted(line.split(" (")[0].removeprefix("- ") for line in stdout.splitlines() if line.startswith("- "))


def structured(result: object) -> dict[str, object]:
    content = getattr(result, "structured_content", None)
    assert isinstance(content, dict), result
    return json.loads(json.dumps(content))
