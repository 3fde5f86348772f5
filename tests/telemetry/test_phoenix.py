"""Export over OTLP/HTTP to a real trace backend (Arize Phoenix, run locally) and read the trace back.

Phoenix lives in its own virtualenv (`scripts/install-phoenix`); the traced round trip runs in a
subprocess (`otlp_scenario.py`) because `setup_telemetry()` installs global providers.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import Process

from tests._support import require
from tests.telemetry.conftest import ROOT, TIME_SERVER

PHOENIX = ROOT / ".cache" / "phoenix" / "bin" / "phoenix"
SCENARIO = ROOT / "tests" / "telemetry" / "otlp_scenario.py"
STARTUP_S = 180.0
"""Phoenix imports a lot and migrates a fresh SQLite database: ~50 s on two busy cores, ~450 MB RSS."""
SCENARIO_S = 90.0
READ_S = 60.0
POLL_S = 0.25
TEST_TIMEOUT_S = STARTUP_S + SCENARIO_S + READ_S + 30.0
"""Above the suite's 120 s per-test timeout: our own caps, not pytest-timeout, must end a slow run."""


def http_get(url: str) -> tuple[int, bytes]:
    """A GET on loopback, in a worker thread (stdlib only: no HTTP client in our dependencies)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, b""
    except OSError:
        return 0, b""


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (all sockets held open until every port is chosen)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


@asynccontextmanager
async def running_phoenix(workdir: Path) -> AsyncGenerator[str]:
    port, grpc_port = free_ports(2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")} | {
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(grpc_port),
        "PHOENIX_WORKING_DIR": str(workdir),
        "PHOENIX_TELEMETRY_ENABLED": "false",
    }
    log_path = workdir / "phoenix.log"

    def log_tail() -> str:
        return log_path.read_text(errors="replace")[-2000:]

    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process: Process = await anyio.open_process([str(PHOENIX), "serve"], env=env, stdout=log, stderr=log)
        try:
            try:
                with anyio.fail_after(STARTUP_S):
                    while True:
                        if process.returncode is not None:
                            pytest.fail(f"phoenix exited ({process.returncode}): {log_tail()}")
                        status, _ = await anyio.to_thread.run_sync(http_get, f"{url}/healthz")
                        if status == 200:
                            break
                        await anyio.sleep(POLL_S)
            except TimeoutError:
                pytest.fail(f"phoenix not ready after {STARTUP_S:g} s: {log_tail()}")
            yield url
        finally:
            # Always: terminate, give it 10 s, then kill (shielded, so a cancelled test still cleans up).
            with anyio.CancelScope(shield=True):
                if process.returncode is None:
                    with suppress(ProcessLookupError):  # it may exit between the check and the signal
                        process.terminate()
                    with anyio.move_on_after(10):
                        await process.wait()
                if process.returncode is None:
                    process.kill()
                    await process.wait()


async def read_trace(url: str, trace_id: str, expected: int) -> list[dict[str, Any]]:
    """Poll Phoenix's REST API until the trace has `expected` spans (ingestion is batched)."""
    query = urllib.parse.urlencode({"trace_id": trace_id, "limit": 1000})
    with anyio.fail_after(READ_S):
        while True:
            status, body = await anyio.to_thread.run_sync(http_get, f"{url}/v1/projects/default/spans?{query}")
            if status == 200:
                spans: list[dict[str, Any]] = json.loads(body)["data"]
                if len(spans) >= expected:
                    return spans
            await anyio.sleep(POLL_S)


@pytest.mark.anyio
@pytest.mark.timeout(TEST_TIMEOUT_S)
async def test_trace_exported_over_otlp_http_reads_back_from_phoenix(tmp_path: Path) -> None:
    require(PHOENIX.exists(), "Arize Phoenix", "scripts/install-phoenix")
    require(TIME_SERVER.exists(), "mcp-server-time", "scripts/install-test-servers")
    async with running_phoenix(tmp_path) as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")} | {
            "OTEL_EXPORTER_OTLP_ENDPOINT": url,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_METRICS_EXPORTER": "none",  # Phoenix takes traces only
            "PYTHONPATH": str(ROOT),
        }
        with anyio.fail_after(SCENARIO_S):
            done = await anyio.run_process([sys.executable, str(SCENARIO)], env=env, check=False)
        assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
        run = json.loads(done.stdout.decode().strip().splitlines()[-1])
        assert run["error"] == "" and "stock: 49" in run["stdout"], run
        trace_id = run["trace_id"]
        # server + execution + acquire + 4 client spans + 4 SDK wire spans + 3 upstream SDK server spans
        spans = await read_trace(url, trace_id, expected=14)

    by_id = {s["context"]["span_id"]: s for s in spans}
    assert all(s["context"]["trace_id"] == trace_id for s in spans)

    def parent(span: dict[str, Any]) -> dict[str, Any]:
        return by_id[span["parent_id"]]

    (server,) = [s for s in spans if s["name"] == "tools/call execute_code"]
    assert server["attributes"]["mcp.method.name"] == "tools/call"
    assert server["attributes"]["network.transport"] == "pipe"
    (execution,) = [s for s in spans if s["name"] == "execute_code"]
    assert parent(execution) is server
    assert execution["attributes"]["ptc.execution.outcome"] == "ok"
    (acquire,) = [s for s in spans if s["name"] == "sandbox.acquire"]
    assert parent(acquire) is execution
    assert acquire["attributes"]["ptc.sandbox.backend"] == "local-process"
    assert acquire["attributes"]["ptc.sandbox.start"] == "cold"

    calls = [
        s
        for s in spans
        if s["name"].startswith("tools/call ") and s.get("parent_id") == execution["context"]["span_id"]
    ]
    assert sorted(s["name"] for s in calls) == [
        "tools/call discontinued",
        "tools/call get_current_time",
        "tools/call lookup",
        "tools/call lookup",
    ]
    (failed,) = [s for s in calls if s["name"] == "tools/call discontinued"]
    assert failed["attributes"]["error.type"] == "tool_error" and failed["status_code"] == "ERROR"

    # The upstream SDK server's spans, exported by another process, sit under our client spans
    # (through the SDK's wire-level `MCP send` span).
    upstream = [
        s
        for s in spans
        if s["name"].startswith("tools/call ") and s.get("parent_id") and parent(s)["name"].startswith("MCP send ")
    ]
    assert sorted(s["name"] for s in upstream) == ["tools/call discontinued", "tools/call lookup", "tools/call lookup"]
    for remote in upstream:
        ours = parent(parent(remote))
        assert ours in calls and ours["name"] == remote["name"]
