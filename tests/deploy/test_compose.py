"""deploy/compose.yaml is valid Compose: docker-compose (Debian's package) resolves it with the environment.

The file is not brought up here: this engine runs without a bridge network, and Compose would create
one. `tests/deploy/test_gateway_image.py` runs the same image, mounts and settings with `docker run`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests._support import require

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "deploy" / "compose.yaml"


def _compose(**env: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    require(binary is not None, "docker-compose", "scripts/install-deploy-tools")
    assert binary is not None
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PTC_", "DOCKER_GID"))}
    return subprocess.run(
        [binary, "-f", str(COMPOSE_FILE), "config"],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_compose_file_resolves_with_token_and_socket_group() -> None:
    proc = _compose(PTC_AUTH_TOKEN="compose-test-token", DOCKER_GID="4242")
    assert proc.returncode == 0, proc.stderr
    resolved = proc.stdout
    assert "PTC_AUTH_TOKEN: compose-test-token" in resolved
    assert "/var/run/docker.sock:/var/run/docker.sock" in resolved
    assert f"{ROOT / 'deploy' / 'gateway.toml'}:/etc/ptc-gateway/gateway.toml:ro" in resolved
    assert f"{ROOT / 'examples'}:/srv/ptc/examples:ro" in resolved
    assert "- '4242'" in resolved  # group_add: the socket's group
    assert "- serve\n    - --transport\n    - http" in resolved
    assert "condition: service_completed_successfully" in resolved
    assert "127.0.0.1:8765:8765" in resolved


def test_compose_refuses_to_start_without_a_token() -> None:
    proc = _compose(DOCKER_GID="4242")
    assert proc.returncode != 0
    assert "PTC_AUTH_TOKEN" in proc.stderr
