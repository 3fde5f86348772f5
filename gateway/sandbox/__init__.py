"""Sandbox backends behind one seam: the executor sees only `BaseSandboxBackend` / `BaseSandbox`.

`create_backend` (the only place defaults are built) picks the configured backend.
`LocalProcessBackend` runs the runner as a plain subprocess: for fast tests only, never a security
boundary.
"""

from gateway.sandbox._base import BaseSandbox, BaseSandboxBackend, SandboxInfo
from gateway.sandbox._factory import create_backend
from gateway.sandbox._local import LocalProcessBackend

__all__ = ["BaseSandbox", "BaseSandboxBackend", "LocalProcessBackend", "SandboxInfo", "create_backend"]
