"""The real pipeline, traced: fleet (`connect_fleet`) → executor → runner sandbox → bridged calls.

Composed the way `gateway/app.py` composes it, with the telemetry wrappers at their wiring points:
`TracedToolSource` right around the fleet, `TracedSandboxBackend` around the backend, and
`trace_execution` around `Executor.execute`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio
import pytest

from gateway.config import ExecutionLimits, GatewaySettings, StdioServerConfig
from gateway.executor import Executor
from gateway.sandbox import DockerSandboxBackend, LocalProcessBackend
from gateway.stubs import build_toolbox
from gateway.telemetry import TracedSandboxBackend, TracedToolSource, trace_execution, transports_for
from gateway.testing import FunctionToolSource
from gateway.upstream import connect_fleet
from tests._support import require
from tests.sandbox._docker import docker_settings
from tests.telemetry.conftest import ROOT, SDK_SERVER, TIME_SERVER, Recorded
from tests.telemetry.test_trace_tree import points, span_id, trace_id

CODE = """\
import asyncio
a, b, now = await asyncio.gather(
    inventory.lookup(sku="A-1"), inventory.lookup(sku="B-22"), time_tools.get_current_time(timezone="UTC"),
)
try:
    await inventory.discontinued(sku="Z-9")
except ToolError as e:
    print("refused:", e)
print(a["stock"] + b["stock"], now["timezone"])
"""


@pytest.mark.anyio
async def test_executor_and_fleet_produce_one_trace(recorded: Recorded, tmp_path: Path) -> None:
    require(TIME_SERVER.exists(), "mcp-server-time", "scripts/install-test-servers")
    upstream_file = tmp_path / "upstream.jsonl"
    servers = {
        "inventory": StdioServerConfig(
            command=sys.executable,
            args=[str(SDK_SERVER)],
            env={"PYTHONPATH": str(ROOT), "PTC_TEST_SPAN_FILE": str(upstream_file)},
        ),
        "time": StdioServerConfig(command=str(TIME_SERVER)),
    }
    telemetry = recorded.telemetry
    with anyio.fail_after(90):
        async with connect_fleet(servers) as fleet:
            await fleet.wait_ready(30)
            source = TracedToolSource(fleet, telemetry, transports=transports_for(servers))
            toolbox = build_toolbox(await source.list_tools(), settings=GatewaySettings())
            async with TracedSandboxBackend(LocalProcessBackend(), telemetry) as backend:
                executor = Executor(backend=backend, source=source, limits=ExecutionLimits())
                with trace_execution(telemetry, code=CODE) as execution:
                    result = await executor.execute(CODE, toolbox=toolbox)
                    execution.finish(result)
    assert result.error is None, result.error
    assert "refused:" in result.stdout and "UTC" in result.stdout
    assert result.tool_calls == 4

    spans = recorded.spans.get_finished_spans()
    assert len({trace_id(s) for s in spans}) == 1
    (root,) = [s for s in spans if s.name == "execute_code"]
    children = [s for s in spans if s.parent is not None and s.parent.span_id == span_id(root)]
    assert sorted(s.name for s in children) == [
        "sandbox.acquire",
        "tools/call discontinued",
        "tools/call get_current_time",
        "tools/call lookup",
        "tools/call lookup",
    ]
    assert dict(root.attributes or {})["ptc.execution.tool_calls"] == 4
    (acquire,) = [s for s in children if s.name == "sandbox.acquire"]
    assert dict(acquire.attributes or {})["ptc.sandbox.backend"] == LocalProcessBackend.name
    calls = {f"{span_id(s):016x}": s for s in children if s.name.startswith("tools/call ")}
    upstream = [json.loads(line) for line in upstream_file.read_text(encoding="utf-8").splitlines()]
    joined = [s for s in upstream if s["trace_id"] == f"{trace_id(root):032x}"]
    assert sorted(s["name"] for s in joined) == ["tools/call discontinued", "tools/call lookup", "tools/call lookup"]
    assert all(calls[s["parent_id"]].name == s["name"] for s in joined)


@pytest.mark.anyio
@pytest.mark.docker
async def test_docker_warm_start_and_pool_size(recorded: Recorded) -> None:
    """The real Docker backend behind `TracedSandboxBackend`: a pooled container is a `warm` start."""
    limits = ExecutionLimits()
    telemetry = recorded.telemetry
    inner = DockerSandboxBackend(docker_settings(pool_size=1), limits)
    with anyio.fail_after(100):
        async with TracedSandboxBackend(inner, telemetry) as backend:  # starts (and closes) the inner backend
            while inner.pool_ready < 1:  # noqa: ASYNC110 - the pool has no public "ready" event
                await anyio.sleep(0.05)
            (gauge,) = points(recorded.metrics.get_metrics_data(), "ptc.sandbox.pool.size")
            assert (gauge.value, dict(gauge.attributes)) == (1, {"ptc.sandbox.backend": "docker"})
            executor = Executor(
                backend=backend, source=TracedToolSource(FunctionToolSource(), telemetry), limits=limits
            )
            with trace_execution(telemetry, code="print(6 * 7)") as execution:
                result = await executor.execute("print(6 * 7)", toolbox=build_toolbox([], settings=GatewaySettings()))
                execution.finish(result)
    assert result.error is None and result.stdout.strip() == "42"
    (acquire,) = [s for s in recorded.spans.get_finished_spans() if s.name == "sandbox.acquire"]
    attributes = dict(acquire.attributes or {})
    assert (attributes["ptc.sandbox.backend"], attributes["ptc.sandbox.start"]) == ("docker", "warm")
    (start,) = points(recorded.metrics.get_metrics_data(), "ptc.sandbox.start.duration")
    assert dict(start.attributes) == {"ptc.sandbox.backend": "docker", "ptc.sandbox.start": "warm"}
