"""Sandbox backends behind one seam: the executor sees only `BaseSandboxBackend` / `BaseSandbox`.

`create_backend` (the only place defaults are built) picks the configured backend. The AgentCore
backend is public for what goes beyond the seam: re-attaching to a paused execution's session by
its `AgentCoreHandle` (docs/agentcore.md).
`LocalProcessBackend` runs the runner as a plain subprocess: for fast tests only, never a security
boundary.
"""

from gateway.sandbox._agentcore import AgentCoreHandle, AgentCoreSandbox, AgentCoreSandboxBackend
from gateway.sandbox._base import BaseSandbox, BaseSandboxBackend, SandboxInfo
from gateway.sandbox._factory import create_backend
from gateway.sandbox._local import LocalProcessBackend

__all__ = [
    "AgentCoreHandle",
    "AgentCoreSandbox",
    "AgentCoreSandboxBackend",
    "BaseSandbox",
    "BaseSandboxBackend",
    "LocalProcessBackend",
    "SandboxInfo",
    "create_backend",
]
