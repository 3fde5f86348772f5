"""`ptc-gateway doctor` against the real engine and real servers: a good set-up, then broken ones."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sandbox._docker import TEST_IMAGE, USER_IMAGE, docker_settings

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = str(Path(sys.executable).with_name("ptc-gateway"))
EXPENSES = str(ROOT / "examples" / "expenses_server.py")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """No stray PTC_/AWS_/OTEL_ settings from the machine; AWS resolves only from what a test gives it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PTC_", "AWS_", "OTEL_"))}
    env.update(
        AWS_CONFIG_FILE=str(tmp_path / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",  # never probe the instance metadata address
    )
    env.update(extra)
    return env


def _doctor(tmp_path: Path, config: str, env: dict[str, str]) -> tuple[int, dict[str, str]]:
    path = tmp_path / "gateway.toml"
    path.write_text(config, encoding="utf-8")
    proc = subprocess.run(
        [GATEWAY, "doctor", "--config", str(path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    lines = proc.stdout.splitlines()
    assert lines, proc.stderr
    # "STATE  name: detail  -> fix: ..." per check, then a summary line.
    checks = {line[6:].split(": ", 1)[0]: line for line in lines[:-1]}
    for line in lines[:-1]:
        assert line[:4] in ("ok  ", "WARN", "FAIL", "--  "), line
    return proc.returncode, checks


@pytest.fixture
def otlp_listener() -> Iterator[str]:
    """A TCP listener on 127.0.0.1 standing in for a collector (the check only connects)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


def _closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as server:
        return server.getsockname()[1]


@pytest.mark.docker
def test_everything_in_order(tmp_path: Path, otlp_listener: str) -> None:
    docker_settings()
    config = f"""
[servers.expenses]
command = "{sys.executable}"
args = ["{EXPENSES}"]

[sandbox]
image = "{TEST_IMAGE}"

[model]
region = "us-west-2"
"""
    env = _env(
        tmp_path,
        AWS_ACCESS_KEY_ID="AKIDEXAMPLE",
        AWS_SECRET_ACCESS_KEY="secret",  # noqa: S106 - a fake credential resolved locally, never sent
        OTEL_EXPORTER_OTLP_ENDPOINT=otlp_listener,
    )
    status, checks = _doctor(tmp_path, config, env)
    assert status == 0, checks
    assert checks["docker engine"].startswith("ok  ")
    assert "cgroup v" in checks["docker engine"] and "runtime " in checks["docker engine"]
    assert checks[f"sandbox image {TEST_IMAGE}"].startswith("ok  ")
    assert checks["server expenses"].startswith("ok  ") and "4 tools, ready in" in checks["server expenses"]
    assert checks["aws"].startswith("ok  ") and "region us-west-2" in checks["aws"] and "env" in checks["aws"]
    assert checks["otel exporter OTEL_EXPORTER_OTLP_ENDPOINT"].startswith("ok  ")
    assert "-> fix" not in "".join(checks.values())


@pytest.mark.docker
def test_broken_setup_names_each_problem_and_its_fix(tmp_path: Path) -> None:
    docker_settings()
    port = _closed_port()
    config = f"""
[servers.expenses]
command = "{sys.executable}"
args = ["{EXPENSES}"]

[servers.broken]
command = "{tmp_path / "no-such-server"}"

[sandbox]
image = "ptc-doctor-missing:never"

[model]
id = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
"""
    env = _env(tmp_path, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"http://127.0.0.1:{port}/v1/traces")
    status, checks = _doctor(tmp_path, config, env)
    assert status == 1
    assert checks["docker engine"].startswith("ok  ")
    image = checks["sandbox image ptc-doctor-missing:never"]
    assert image.startswith("FAIL") and "missing" in image and "fix: ptc-gateway image build --tag" in image
    assert checks["server expenses"].startswith("ok  ")
    broken = checks["server broken"]
    assert broken.startswith("FAIL") and "fix: check [servers.broken] command" in broken
    aws = checks["aws"]
    assert aws.startswith("FAIL") and "no credentials" in aws and "no region" in aws and "AWS_REGION" in aws
    otel = checks["otel exporter OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
    assert otel.startswith("FAIL") and "cannot connect" in otel and f"127.0.0.1:{port}" in otel


@pytest.mark.docker
def test_stale_image_warns_and_still_passes(tmp_path: Path) -> None:
    docker_settings()
    # The debootstrapped base exists but carries none of our labels: it works (runtime injection).
    status, checks = _doctor(tmp_path, f'[sandbox]\nimage = "{USER_IMAGE}"\n', _env(tmp_path))
    assert status == 0, checks
    assert (
        checks[f"sandbox image {USER_IMAGE}"].startswith("WARN")
        and "fix: ptc-gateway image build" in checks[f"sandbox image {USER_IMAGE}"]
    )
    assert checks["servers"].startswith("WARN")


def test_unreachable_engine_and_unknown_runtime(tmp_path: Path) -> None:
    status, checks = _doctor(tmp_path, f'[sandbox]\ndocker_host = "unix://{tmp_path}/no-engine.sock"\n', _env(tmp_path))
    assert status == 1
    assert checks["docker engine"].startswith("FAIL") and "scripts/ensure-docker" in checks["docker engine"]


@pytest.mark.docker
def test_runtime_the_engine_does_not_have(tmp_path: Path) -> None:
    docker_settings()
    status, checks = _doctor(tmp_path, '[sandbox]\nruntime = "no-such-runtime"\n', _env(tmp_path))
    assert status == 1
    assert checks["docker engine"].startswith("FAIL") and "no runtime 'no-such-runtime'" in checks["docker engine"]


def test_local_process_backend_needs_no_engine(tmp_path: Path) -> None:
    status, checks = _doctor(
        tmp_path,
        f'[sandbox]\nbackend = "local-process"\ndocker_host = "unix://{tmp_path}/no-engine.sock"\n',
        _env(tmp_path),
    )
    assert status == 0, checks
    assert checks["docker engine"].startswith("--  ")
