"""Signals to a real `ptc-gateway` process leave no container.

SIGTERM and SIGHUP cancel (the command cleans up); after SIGKILL the engine removes the containers.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from pathlib import Path

import anyio
import anyio.to_thread
import pytest
from anyio.abc import Process

from gateway.sandbox import LABEL_HOST, LABEL_PID
from gateway.sandbox._engine import connect_engine
from tests.sandbox._docker import TEST_IMAGE, docker_settings

pytestmark = pytest.mark.anyio

GATEWAY = str(Path(sys.executable).with_name("ptc-gateway"))
SERVER = Path(__file__).resolve().parents[2] / "examples" / "expenses_server.py"
SLEEPER = "import time\nprint('running')\ntime.sleep(120)\n"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    docker_settings()  # fails under CI, skips elsewhere, without Docker and the image
    path = tmp_path / "gateway.toml"
    path.write_text(
        f"""
[servers.expenses]
command = {sys.executable!r}
args = [{str(SERVER)!r}]

[sandbox]
image = {TEST_IMAGE!r}
pool_size = 2
""",
        encoding="utf-8",
    )
    return path


def _env(config: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PTC_")}
    env["PTC_CONFIG"] = str(config)
    return env


async def containers_of(pid: int, *, running: bool = False) -> list[str]:
    """Containers a gateway process with this pid created on this host (all of them, or the running ones)."""

    def query() -> list[str]:
        api = connect_engine(None, timeout_s=10)
        try:
            labels = [f"{LABEL_PID}={pid}", f"{LABEL_HOST}={socket.gethostname()}"]
            filters: dict[str, object] = {"label": labels}
            if running:
                filters["status"] = "running"
            return [str(c["Id"]) for c in api.containers(all=True, filters=filters)]
        finally:
            api.close()

    return await anyio.to_thread.run_sync(query)


async def wait_for_containers(process: Process, count: int, *, running: bool = False) -> None:
    with anyio.fail_after(60):
        while len(await containers_of(process.pid, running=running)) < count:  # noqa: ASYNC110 - polling the engine
            assert process.returncode is None, "the gateway exited early"
            await anyio.sleep(0.1)


async def wait_exit(process: Process) -> int:
    with anyio.fail_after(60):
        return await process.wait()


async def test_sigterm_cancels_run_and_removes_its_container(config: Path, tmp_path: Path) -> None:
    code = tmp_path / "sleep.py"
    code.write_text(SLEEPER, encoding="utf-8")
    async with await anyio.open_process([GATEWAY, "run", str(code)], env=_env(config)) as process:
        try:
            await wait_for_containers(process, 1)
            process.send_signal(signal.SIGTERM)
            assert await wait_exit(process) == 128 + signal.SIGTERM
        finally:
            if process.returncode is None:
                process.kill()
    assert await containers_of(process.pid) == []


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM])
async def test_a_signal_stops_serve_and_removes_its_warm_pool(config: Path, signum: signal.Signals) -> None:
    async with await anyio.open_process([GATEWAY, "serve"], env=_env(config)) as process:
        try:
            await wait_for_containers(process, 2)  # the warm pool
            process.send_signal(signum)
            await wait_exit(process)
        finally:
            if process.returncode is None:
                process.kill()
    assert await containers_of(process.pid) == []


@pytest.mark.parametrize("command", ["serve", "run"])
async def test_the_engine_removes_the_containers_of_a_sigkilled_gateway(
    config: Path, tmp_path: Path, command: str
) -> None:
    code = tmp_path / "sleep.py"
    code.write_text(SLEEPER, encoding="utf-8")
    args = [GATEWAY, "serve"] if command == "serve" else [GATEWAY, "run", str(code)]
    async with await anyio.open_process(args, env=_env(config)) as process:
        try:
            # Running, not only created: a container the gateway created but had not started when it was
            # killed never runs, so AutoRemove never fires; the next gateway to start reaps it
            # (test_docker_backend's orphan test forges exactly that case).
            running = await _wait_running(process, 2 if command == "serve" else 1)
        finally:
            process.kill()
        await wait_exit(process)
    # No gateway is left to clean up: the runners see their stdin close, exit, and the engine removes them.
    with anyio.fail_after(30):
        while set(running) & set(await containers_of(process.pid)):  # noqa: ASYNC110 - polling the engine: nothing of ours is left to signal
            await anyio.sleep(0.1)
    # Whatever was only created (not started) at the kill is reaped by the next gateway on this host.
    quick = tmp_path / "quick.py"
    quick.write_text("print('ok')\n", encoding="utf-8")
    after = await anyio.run_process([GATEWAY, "run", str(quick)], env=_env(config), check=False)
    assert after.returncode == 0, after.stderr.decode()
    assert await containers_of(process.pid) == []


async def _wait_running(process: Process, count: int) -> list[str]:
    await wait_for_containers(process, count, running=True)
    return await containers_of(process.pid, running=True)
