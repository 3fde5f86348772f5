"""Sandbox backends behind one seam: the executor sees only `BaseSandboxBackend` / `BaseSandbox`.

- `create_backend(settings, limits)`: the only place the configured backend is chosen.
- `DockerSandboxBackend`: the hardened Docker backend with its warm pool (imported lazily: it pulls in
  the Docker SDK).
- `LocalProcessBackend`: the runner as a plain subprocess, for fast tests only, **never a security
  boundary** (also re-exported by `gateway.testing`).
- `await_hello`: the runner's handshake, shared by every backend.
- The image recipe: `build_image`, `image_status`, `ImageBuildOptions` (used by `ptc-gateway image`).
"""

from typing import TYPE_CHECKING, Any

from gateway.sandbox._base import HELLO_MAX_BYTES, BaseSandbox, BaseSandboxBackend, SandboxInfo, await_hello
from gateway.sandbox._factory import create_backend
from gateway.sandbox._image import (
    DEFAULT_BASE_IMAGE,
    DEFAULT_BOOTSTRAP_TAG,
    ImageBuildOptions,
    ImageStatus,
    build_image,
    image_status,
)
from gateway.sandbox._local import LocalProcessBackend

if TYPE_CHECKING:
    from gateway.sandbox._docker import LABEL_HOST, LABEL_OWNER, LABEL_PID, DockerSandbox, DockerSandboxBackend

__all__ = [
    "DEFAULT_BASE_IMAGE",
    "DEFAULT_BOOTSTRAP_TAG",
    "HELLO_MAX_BYTES",
    "LABEL_HOST",
    "LABEL_OWNER",
    "LABEL_PID",
    "BaseSandbox",
    "BaseSandboxBackend",
    "DockerSandbox",
    "DockerSandboxBackend",
    "ImageBuildOptions",
    "ImageStatus",
    "LocalProcessBackend",
    "SandboxInfo",
    "await_hello",
    "build_image",
    "create_backend",
    "image_status",
]

_DOCKER_NAMES = frozenset({"LABEL_HOST", "LABEL_OWNER", "LABEL_PID", "DockerSandbox", "DockerSandboxBackend"})


def __getattr__(name: str) -> Any:
    """The Docker backend's names, imported on first use (the Docker SDK costs start-up time)."""
    if name in _DOCKER_NAMES:
        from gateway.sandbox import _docker

        return getattr(_docker, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
