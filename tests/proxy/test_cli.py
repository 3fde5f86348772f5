"""`ptc-gateway proxy` as a process: announces its URL, serves, stops on SIGTERM; an open bind needs keys."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import httpx2
import pytest

pytestmark = pytest.mark.anyio


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PTC_")}
    return {**env, **extra}


async def test_proxy_command_serves_until_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text("[sandbox]\nbackend = 'local-process'\npool_size = 0\n", encoding="utf-8")
    command = [sys.executable, "-m", "gateway.cli", "proxy", "--port", "0", "--config", str(config)]
    async with await anyio.open_process(command, env=_env(PTC_API_KEYS="k1,k2")) as process:
        assert process.stderr is not None
        seen = b""
        with anyio.fail_after(60):
            while (match := re.search(rb"proxy on (http://\S+)", seen)) is None:
                seen += await process.stderr.receive()
            url = match[1].decode()
            async with httpx2.AsyncClient() as http:
                health = await http.get(f"{url}/healthz")
                models = await http.get(f"{url}/v1/models", headers={"x-api-key": "k2"})
                refused = await http.get(f"{url}/v1/models", headers={"x-api-key": "k3"})
            process.send_signal(signal.SIGTERM)
            status = await process.wait()
    assert health.json() == {"status": "ok", "paused_executions": 0}
    assert "claude-opus-4-6" in [m["id"] for m in models.json()["data"]]
    assert refused.status_code == 401
    assert status == 0


async def test_an_open_bind_needs_api_keys(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text("", encoding="utf-8")
    command = [sys.executable, "-m", "gateway.cli", "proxy", "--host", "0.0.0.0", "--config", str(config)]
    with anyio.fail_after(60):
        result = await anyio.run_process(command, env=_env(), check=False, stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert b"without API keys" in result.stderr and b"PTC_API_KEYS" in result.stderr
