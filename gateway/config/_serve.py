"""`[serve]` and `[approval]`: the one-tool MCP server and its approval policy."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ApprovalSettings", "ServeSettings", "StubSettings"]

Policy = Literal["allow", "ask", "deny"]


class ServeSettings(BaseModel):
    """How `ptc-gateway serve` exposes the gateway."""

    model_config = ConfigDict(extra="forbid")

    tool_name: str = "execute_code"
    transport: Literal["stdio", "http"] = "stdio"
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    auth_token: str | None = None
    """Bearer token required on HTTP (env `PTC_AUTH_TOKEN`)."""


class ApprovalSettings(BaseModel):
    """Which tool calls need the user's approval (through MCP elicitation)."""

    model_config = ConfigDict(extra="forbid")

    default: Policy = "allow"
    destructive: Policy = "ask"
    """Policy for tools annotated destructive (and not read-only)."""
    tools: dict[str, Policy] = Field(default_factory=dict)
    """Per tool, keyed `server/tool` (fnmatch patterns allowed); wins over the above."""


class StubSettings(BaseModel):
    """How the fleet is shown to the model."""

    model_config = ConfigDict(extra="forbid")

    budget_ratio: float = Field(default=0.6, gt=0)
    """Stub bytes / JSON definition bytes above which... (see budget_bytes)."""
    budget_bytes: int = Field(default=60_000, ge=1000)
    """Above this many bytes of full stubs, the prompt shows a compact one-line-per-tool index."""
