"""Sandbox backends behind one seam: the executor sees only `BaseSandboxBackend` / `BaseSandbox`.

- `create_backend(settings, limits)`: the only place the configured backend is chosen.
- `DockerSandboxBackend`: the hardened Docker backend with its warm pool (imported lazily: it pulls in
  the Docker SDK).
- `LocalProcessBackend`: the runner as a plain subprocess, for fast tests only, **never a security
  boundary** (also re-exported by `gateway.testing`).
- `AgentCoreSandboxBackend`: Amazon Bedrock AgentCore Code Interpreter sessions, with `AgentCoreHandle`
  to re-attach to a paused execution's session from another process (docs/agentcore.md; imported
  lazily like Docker).
- `await_hello`: the runner's handshake, shared by every backend.
- The image recipe: `build_image`, `image_status`, `ImageBuildOptions`, `recipe_dir` (used by
  `ptc-gateway image`); the gateway's own container image: `build_gateway_image`, `GatewayImageOptions`.
- Who owns a sandbox container and whether it is an orphan: `OwnerIdentity`, `is_orphan`, the labels.
- The engine as `ptc-gateway doctor` sees it: `engine_info`, `ENGINE_FIX`.
"""

from typing import TYPE_CHECKING, Any

from gateway.sandbox._base import HELLO_MAX_BYTES, BaseSandbox, BaseSandboxBackend, SandboxInfo, await_hello
from gateway.sandbox._engine import ENGINE_FIX, engine_info
from gateway.sandbox._factory import create_backend
from gateway.sandbox._gateway_image import DEFAULT_GATEWAY_TAG, GatewayImageOptions, build_gateway_image
from gateway.sandbox._image import (
    DEFAULT_BASE_IMAGE,
    DEFAULT_BOOTSTRAP_TAG,
    ImageBuildOptions,
    ImageStatus,
    build_image,
    image_status,
    recipe_dir,
)
from gateway.sandbox._local import LocalProcessBackend
from gateway.sandbox._owner import (
    LABEL_CONTAINER,
    LABEL_HOST,
    LABEL_OWNER,
    LABEL_PID,
    LABEL_PIDNS,
    OwnerIdentity,
    current_identity,
    is_orphan,
)

if TYPE_CHECKING:
    from gateway.sandbox._agentcore import AgentCoreHandle, AgentCoreSandbox, AgentCoreSandboxBackend
    from gateway.sandbox._docker import LABEL_UID, DockerSandbox, DockerSandboxBackend

__all__ = [
    "DEFAULT_BASE_IMAGE",
    "AgentCoreHandle",
    "AgentCoreSandbox",
    "AgentCoreSandboxBackend",
    "DEFAULT_BOOTSTRAP_TAG",
    "DEFAULT_GATEWAY_TAG",
    "ENGINE_FIX",
    "HELLO_MAX_BYTES",
    "LABEL_CONTAINER",
    "LABEL_HOST",
    "LABEL_OWNER",
    "LABEL_PID",
    "LABEL_PIDNS",
    "LABEL_UID",
    "BaseSandbox",
    "BaseSandboxBackend",
    "DockerSandbox",
    "DockerSandboxBackend",
    "GatewayImageOptions",
    "ImageBuildOptions",
    "ImageStatus",
    "LocalProcessBackend",
    "OwnerIdentity",
    "SandboxInfo",
    "await_hello",
    "build_gateway_image",
    "build_image",
    "create_backend",
    "current_identity",
    "engine_info",
    "image_status",
    "is_orphan",
    "recipe_dir",
]

_DOCKER_NAMES = frozenset({"LABEL_UID", "DockerSandbox", "DockerSandboxBackend"})
_AGENTCORE_NAMES = frozenset({"AgentCoreHandle", "AgentCoreSandbox", "AgentCoreSandboxBackend"})


def __getattr__(name: str) -> Any:
    """The Docker and AgentCore backends' names, imported on first use (their SDKs cost start-up time)."""
    if name in _DOCKER_NAMES:
        from gateway.sandbox import _docker

        return getattr(_docker, name)
    if name in _AGENTCORE_NAMES:
        from gateway.sandbox import _agentcore

        return getattr(_agentcore, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
