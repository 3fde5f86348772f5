"""Real-Docker prerequisites for tests: the engine answers and the sandbox image exists.

`docker_settings()` fails the test under CI (skips elsewhere) when the engine is down, and builds
the image once per test session when it is missing (a stale image is fine: the backend then
injects the current bridge runtime over stdin).
"""

from __future__ import annotations

import concurrent.futures
import functools
import io
import os
from typing import Any

import anyio

from gateway.config import SandboxSettings
from gateway.errors import GatewayError
from gateway.sandbox import (
    DEFAULT_BASE_IMAGE,
    DEFAULT_BOOTSTRAP_TAG,
    ImageBuildOptions,
    build_image,
    image_status,
)
from gateway.sandbox._engine import connect_engine
from tests._support import require

__all__ = ["CUSTOM_TEST_IMAGE", "TEST_IMAGE", "USER_IMAGE", "count_owned_containers", "docker_settings", "user_image"]

TEST_IMAGE = os.environ.get("PTC_TEST_IMAGE", "ptc-sandbox:latest")
CUSTOM_TEST_IMAGE = "PTC_TEST_IMAGE" in os.environ
"""A user-chosen test image is used as it is (built only when missing), never rebuilt from our recipe."""
USER_IMAGE = DEFAULT_BOOTSTRAP_TAG
"""The debootstrapped Debian base (plain python3, no bridge): our stand-in for "any user image"."""

FIX = "scripts/ensure-docker && .venv/bin/ptc-gateway image build"


def _in_thread(func: Any) -> Any:
    # Tests call this from inside a running event loop; anyio.run needs a thread of its own.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(anyio.run, func).result()


@functools.cache
def _prepare() -> str | None:
    """None when ready, else what is missing."""
    try:
        connect_engine(None, timeout_s=10).close()
    except GatewayError as e:
        return str(e)

    async def ensure() -> None:
        # Rebuilt when stale too: the tests must run the image the shipped recipe and bridge make.
        state = await image_status(TEST_IMAGE)
        if state == "missing" or (state == "stale" and not CUSTOM_TEST_IMAGE):
            await build_image(ImageBuildOptions(tag=TEST_IMAGE), out=io.StringIO())

    try:
        _in_thread(ensure)
    except GatewayError as e:
        return f"building {TEST_IMAGE} failed: {e}"
    return None


def docker_settings(**overrides: Any) -> SandboxSettings:
    """Settings for a test backend: tight limits, a one-container pool. Fails/skips when Docker is missing."""
    problem = _prepare()
    require(problem is None, f"the Docker sandbox ({problem})", FIX)
    values: dict[str, Any] = {
        "backend": "docker",
        "image": TEST_IMAGE,
        "pool_size": 1,
        "memory_mb": 256,
        "pids_limit": 64,
        "tmp_size_mb": 16,
        "workdir_size_mb": 16,
        "fsize_mb": 16,
        "start_timeout_s": 60,
    }
    values.update(overrides)
    return SandboxSettings(**values)


def user_image() -> str:
    """A plain Python image without our runtime: the bootstrapped Debian base, else the pulled base image."""
    docker_settings()

    async def first_present() -> str | None:
        for image in (USER_IMAGE, DEFAULT_BASE_IMAGE):
            if await image_status(image) != "missing":
                return image
        return None

    found: str | None = _in_thread(first_present)
    require(found is not None, f"a plain Python image ({USER_IMAGE} or {DEFAULT_BASE_IMAGE})", FIX)
    assert found is not None
    return found


def count_owned_containers(owner: str) -> int:
    """Containers (running or not) carrying this backend's owner label."""
    api = connect_engine(None, timeout_s=10)
    try:
        return len(api.containers(all=True, filters={"label": f"ptc-gateway.owner={owner}"}))
    finally:
        api.close()
