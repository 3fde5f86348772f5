"""The image build's pure parts (mirror discovery, build context) and the built image's labels."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from gateway.sandbox._image import ImageBuildOptions, build_context, find_debian_mirror, image_status
from gateway.sandbox._runtime import bridge_digest, bridge_sources, injection_payload, runner_command
from tests.sandbox._docker import TEST_IMAGE, docker_settings


def test_mirror_from_one_line_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text(
        "# comment\n"
        "deb-src http://src.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib\n"
        "deb http://mirror.example/debian-security bookworm-security main\n",
        encoding="utf-8",
    )
    assert find_debian_mirror("bookworm", apt_dir=tmp_path) == "http://mirror.example/debian"
    assert find_debian_mirror("trixie", apt_dir=tmp_path) is None


def test_mirror_from_deb822_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\n"
        "# a comment\n"
        "URIs: http://deb822.example/debian\n"
        "Suites: bookworm bookworm-updates\n"
        "Components: main\n"
        "\n"
        "Types: deb\n"
        "URIs: http://deb822.example/debian-security\n"
        "Suites: bookworm-security\n",
        encoding="utf-8",
    )
    assert find_debian_mirror("bookworm", apt_dir=tmp_path) == "http://deb822.example/debian"
    assert find_debian_mirror("bookworm-security", apt_dir=tmp_path) == "http://deb822.example/debian-security"


def test_build_context_holds_dockerfile_requirements_and_bridge() -> None:
    with tarfile.open(fileobj=build_context(ImageBuildOptions()), mode="r") as tar:
        names = set(tar.getnames())
        runner = tar.extractfile("bridge/runner.py")
        assert runner is not None
        assert runner.read().decode("utf-8") == bridge_sources()["bridge/runner.py"]
    assert {"Dockerfile", "requirements.txt", "bridge/__init__.py", "bridge/protocol.py"} <= names


def test_injection_payload_is_length_prefixed_json() -> None:
    payload = injection_payload()
    head, _, body = payload.partition(b"\n")
    assert int(head) == len(body)
    assert b"bridge.runner" in body
    assert runner_command("stdin")[:2] == ["python3", "-I"]
    assert len(bridge_digest()) == 64
    assert io.BytesIO(payload).read(1).isdigit()


@pytest.mark.anyio
async def test_built_image_status() -> None:
    docker_settings()  # the engine and the image exist (built once per session if missing)
    assert await image_status(TEST_IMAGE) in ("current", "stale")
    assert await image_status("ptc-no-such-image:never") == "missing"
