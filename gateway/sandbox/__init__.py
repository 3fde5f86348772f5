"""Sandbox backends behind one seam: the executor sees only `BaseSandboxBackend` / `BaseSandbox`.

`create_backend` (the only place defaults are built) picks the configured backend.
"""

from gateway.sandbox._base import BaseSandbox, BaseSandboxBackend, SandboxInfo
from gateway.sandbox._factory import create_backend

__all__ = ["BaseSandbox", "BaseSandboxBackend", "SandboxInfo", "create_backend"]
