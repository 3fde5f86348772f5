"""The README demo (`scripts/demo` runs `examples/demo.py`) answers the seed question correctly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.examples.test_expenses_server import EXPECTED
from tests.sandbox._docker import docker_settings

ROOT = Path(__file__).resolve().parents[2]


def _run_demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PTC_CONFIG": str(ROOT / "configs" / "gateway.toml")},
        check=False,
    )


def _check(proc: subprocess.CompletedProcess[str], backend: str) -> None:
    assert proc.returncode == 0, proc.stderr
    answer = proc.stdout.split("What comes back to the model")[1]
    named = [line.split(" (")[0].removeprefix("- ") for line in answer.splitlines() if line.startswith("- ")]
    assert sorted(named) == EXPECTED
    assert f"{len(EXPECTED)} of 16 engineering team members exceeded" in answer
    assert f"33 tool calls ran inside the {backend} sandbox" in proc.stdout


def test_demo_answers_the_seed_question_locally() -> None:
    _check(_run_demo("--backend", "local-process"), "local-process")


@pytest.mark.docker
def test_demo_answers_the_seed_question_in_docker() -> None:
    docker_settings()  # fails under CI, skips elsewhere, when the engine or image is missing
    _check(_run_demo("--backend", "docker"), "docker")
