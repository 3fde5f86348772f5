"""The image build's pure parts (mirror discovery, build context) and the built image's labels."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from gateway.sandbox._image import (
    ImageBuildOptions,
    build_context,
    find_debian_mirror,
    image_status,
    recipe_digest,
)
from gateway.sandbox._runtime import bridge_digest, bridge_sources, injection_payload, runner_command
from tests.sandbox._docker import CUSTOM_TEST_IMAGE, TEST_IMAGE, docker_settings


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
    if not CUSTOM_TEST_IMAGE:
        assert await image_status(TEST_IMAGE) == "current"
    assert await image_status("ptc-no-such-image:never") == "missing"


def _recipe_copy(tmp_path: Path) -> Path:
    source = ImageBuildOptions().dockerfile_dir
    for name in ("Dockerfile", "requirements.txt"):
        (tmp_path / name).write_bytes((source / name).read_bytes())
    return tmp_path


def test_recipe_digest_follows_dockerfile_requirements_and_extra_packages(tmp_path: Path) -> None:
    recipe = _recipe_copy(tmp_path)
    same = recipe_digest(ImageBuildOptions(dockerfile_dir=recipe))
    assert same == recipe_digest(ImageBuildOptions())
    assert recipe_digest(ImageBuildOptions(dockerfile_dir=recipe, extra_packages=("numpy",))) != same
    with (recipe / "requirements.txt").open("a", encoding="utf-8") as f:
        f.write("\nrequests\n")
    changed_requirements = recipe_digest(ImageBuildOptions(dockerfile_dir=recipe))
    assert changed_requirements != same
    with (recipe / "Dockerfile").open("a", encoding="utf-8") as f:
        f.write("\nRUN true\n")
    assert recipe_digest(ImageBuildOptions(dockerfile_dir=recipe)) not in (same, changed_requirements)


@pytest.mark.anyio
async def test_an_image_built_from_another_recipe_is_stale(tmp_path: Path) -> None:
    docker_settings()
    recipe = _recipe_copy(tmp_path)
    with (recipe / "Dockerfile").open("a", encoding="utf-8") as f:
        f.write("\nRUN true\n")
    # `image build --if-missing` with this recipe would rebuild: the image was built from the shipped one.
    assert await image_status(TEST_IMAGE, options=ImageBuildOptions(dockerfile_dir=recipe)) == "stale"
    if not CUSTOM_TEST_IMAGE:
        assert await image_status(TEST_IMAGE, options=ImageBuildOptions()) == "current"
