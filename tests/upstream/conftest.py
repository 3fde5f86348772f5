from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.config import StdioServerConfig
from gateway.upstream import FleetEvent
from tests.servers import require_installed

SDK2_SERVER = Path(__file__).resolve().parent / "sdk2_server.py"


@pytest.fixture
def servers_installed() -> None:
    """The five third-party servers; a missing install fails under CI and says how to fix it."""
    require_installed()


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.email=test@example.invalid", "-c", "user.name=test"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    (repo / "README.md").write_text("hello\n", encoding="utf-8")
    subprocess.run([*git, "add", "README.md"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "first"], cwd=repo, check=True)
    return repo


@pytest.fixture
def sdk2_server() -> StdioServerConfig:
    """Our tiny Python SDK 2.x server over stdio (speaks 2026-07-28)."""
    return StdioServerConfig(command=sys.executable, args=[str(SDK2_SERVER)], timeout=20)


class EventLog:
    def __init__(self) -> None:
        self.events: list[FleetEvent] = []

    async def __call__(self, event: FleetEvent) -> None:
        self.events.append(event)


@pytest.fixture
def events() -> EventLog:
    return EventLog()


def child_pids() -> set[int]:
    """Live (non-zombie) direct children of this process."""
    me = os.getpid()
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(encoding="utf-8")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == me and fields[0] != "Z":
            found.add(int(entry.name))
    return found


@pytest.fixture
def no_leftover_children() -> Iterator[None]:
    before = child_pids()
    yield
    assert child_pids() - before == set()


FAULTY_SERVER = Path(__file__).resolve().parent / "faulty_server.py"


def faulty_stdio(*, timeout: float = 20.0, slow_start_s: float = 0.0) -> StdioServerConfig:
    """The fault-injecting server (`faulty_server.py`) over stdio."""
    args = [str(FAULTY_SERVER)] + (["--slow-start", str(slow_start_s)] if slow_start_s else [])
    return StdioServerConfig(command=sys.executable, args=args, timeout=timeout)


@pytest.fixture
def faulty_server() -> StdioServerConfig:
    """The fault-injecting server over stdio."""
    return faulty_stdio()
