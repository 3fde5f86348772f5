"""`[serve]` and `[approval]`: the one-tool MCP server and its approval policy."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ApprovalSettings", "ServeSettings", "StubSettings"]

Policy = Literal["allow", "ask", "deny"]


class ServeSettings(BaseModel):
    """How `ptc-gateway serve` exposes the gateway."""

    model_config = ConfigDict(extra="forbid")

    tool_name: str = Field(default="execute_code", pattern=r"^[A-Za-z0-9_.-]{1,128}$")
    """The name of the one tool (MCP tool-name rules: letters, digits, `_`, `-`, `.`)."""
    transport: Literal["stdio", "http"] = "stdio"
    host: str = "127.0.0.1"
    """Interface to bind on HTTP. Anything but loopback also needs `allowed_hosts`."""
    port: int = Field(default=8765, ge=0, le=65535)
    path: str = Field(default="/mcp", pattern=r"^/")
    """The streamable-HTTP endpoint path (`/healthz` is served beside it)."""
    auth_token: str | None = None
    """Bearer token required on HTTP; `serve` also reads env `PTC_AUTH_TOKEN` (or `PTC_SERVE__AUTH_TOKEN`)."""
    allowed_hosts: list[str] = Field(default_factory=list)
    """Extra `Host` header values accepted on HTTP (`name:port` or `name:*`); loopback names always are."""
    allowed_origins: list[str] = Field(default_factory=list)
    """Extra `Origin` values accepted on HTTP (`https://app.example:*`); loopback origins always are."""
    startup_grace_s: float = Field(default=10.0, ge=0, le=300)
    """How long the first `tools/list` and the first execution wait for servers still starting
    (counted from the start of the gateway); then they answer with what is ready and name the rest."""
    stateless: bool = False
    """HTTP without sessions: any replica can answer any request, but handshake-era clients then get
    no elicitation (approvals that `ask` are refused) and no pushed `list_changed` (see docs/server.md)."""


class ApprovalSettings(BaseModel):
    """Which tool calls need the user's approval (through MCP elicitation)."""

    model_config = ConfigDict(extra="forbid")

    default: Policy = "allow"
    destructive: Policy = "ask"
    """Policy for tools annotated destructive (and not read-only)."""
    tools: dict[str, Policy] = Field(default_factory=dict)
    """Per tool, keyed `server/tool` (fnmatch patterns allowed); wins over the above."""
    timeout_s: float = Field(default=300.0, gt=0)
    """How long the user has to answer an approval question; no answer is a refusal. The
    execution's own limits stand still while a question is open."""


class StubSettings(BaseModel):
    """How the fleet is shown to the model."""

    model_config = ConfigDict(extra="forbid")

    budget_ratio: float = Field(default=0.6, gt=0)
    """Target for stub bytes / JSON definition bytes; measured (bench, `tools`), it switches nothing."""
    budget_bytes: int = Field(default=60_000, ge=1000)
    """Above this many bytes of full stubs, the prompt shows a compact one-line-per-tool index."""
    mode: Literal["auto", "full", "compact"] = "auto"
    """`auto`: full stubs within `budget_bytes`, else the compact index; `full`/`compact` force one."""
