"""`[sandbox]` and `[limits]`: how model code is run, and the caps on one execution."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ExecutionLimits", "SandboxSettings"]


class SandboxSettings(BaseModel):
    """Where and how the model's code runs. Hardened defaults; see docs/security.md."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["docker", "local-process"] = "docker"
    """`local-process` runs the runner as a plain subprocess: for tests only, never a security boundary."""
    image: str = "ptc-sandbox:latest"
    pool_size: int = Field(default=2, ge=0, le=64)
    """Pre-started idle containers kept ready so the common path starts none."""


class ExecutionLimits(BaseModel):
    """Caps on one execution. Every one produces a clear error naming the limit."""

    model_config = ConfigDict(extra="forbid")

    execution_timeout_s: float = Field(default=30.0, gt=0)
    tool_call_timeout_s: float = Field(default=30.0, gt=0)
    max_tool_calls: int = Field(default=1000, ge=0)
    max_concurrent_calls: int = Field(default=32, ge=1)
    max_output_bytes: int = Field(default=64 * 1024, ge=1024)
    """Per stream (stdout, stderr) kept and returned; the rest is counted and dropped."""
    max_frame_bytes: int = Field(default=4 * 1024 * 1024, ge=4096)
    max_result_bytes: int = Field(default=1024 * 1024, ge=1024)
    """Largest tool result injected back into the sandbox."""
