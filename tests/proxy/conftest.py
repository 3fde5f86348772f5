"""Fixtures: the proxy over a gateway (demo expenses server; Docker or local-process sandbox), served by
uvicorn on a free loopback port, with the local Bedrock endpoint of `tests/bedrock` playing the model."""

from __future__ import annotations

import sys
from collections.abc import AsyncGenerator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import anyio
import pytest
from anyio.abc import TaskStatus

from gateway.app import open_gateway
from gateway.config import GatewaySettings, ProxySettings, SandboxSettings, StdioServerConfig
from gateway.proxy import ProxyApp, open_proxy, serve_proxy
from gateway.telemetry import Telemetry
from tests.bedrock.fixtures import bedrock
from tests.sandbox._docker import docker_settings

__all__ = ["RunningProxy", "bedrock", "proxy"]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
KEY = "sk-test-proxy-key"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunningProxy:
    url: str
    running: ProxyApp


OpenProxy = Callable[..., AbstractAsyncContextManager[RunningProxy]]


@asynccontextmanager
async def _open(
    *,
    backend: Literal["docker", "local-process"] = "local-process",
    fleet: bool = True,
    telemetry: Telemetry | None = None,
    **proxy: Any,
) -> AsyncGenerator[RunningProxy]:
    servers = (
        {"expenses": StdioServerConfig(command=sys.executable, args=[str(EXAMPLES / "expenses_server.py")])}
        if fleet
        else {}
    )
    sandbox = docker_settings() if backend == "docker" else SandboxSettings(backend=backend, pool_size=1)
    proxy.setdefault("api_keys", [KEY])
    settings = GatewaySettings(servers=dict(servers), sandbox=sandbox, proxy=ProxySettings(**proxy))
    async with open_gateway(settings, telemetry=telemetry or Telemetry.disabled()) as gateway:
        with anyio.fail_after(60):
            await gateway.fleet.wait_ready()
        async with open_proxy(gateway) as running, anyio.create_task_group() as tg:
            stop = anyio.Event()

            async def serve(*, task_status: TaskStatus[str]) -> None:
                await serve_proxy(running.app, host="127.0.0.1", port=0, stop=stop, on_listening=task_status.started)

            url = await tg.start(serve)
            try:
                yield RunningProxy(url=url, running=running)
            finally:
                stop.set()


@pytest.fixture
def proxy() -> OpenProxy:
    """`async with proxy(backend=..., fleet=..., **[proxy] settings) as running`."""
    return _open
