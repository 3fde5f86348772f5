"""Server entries: stdio and remote MCP servers, as declared in TOML or in client JSON files."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["RemoteServerConfig", "ServerConfig", "StdioServerConfig"]


class _ServerCommon(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    timeout: float = Field(default=30.0, gt=0)
    """Per-call timeout in seconds for this server."""
    enabled_tools: list[str] | None = None
    disabled_tools: list[str] = Field(default_factory=list)
    disabled: bool = False
    require_approval: list[str] = Field(default_factory=list)
    """Tool names (fnmatch patterns) that always ask the user before a call goes through."""


class StdioServerConfig(_ServerCommon):
    """A server started as a child process speaking MCP over stdio."""

    kind: Literal["stdio"] = "stdio"
    command: str
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None


class RemoteServerConfig(_ServerCommon):
    """A server reached over HTTP (streamable HTTP or legacy SSE)."""

    kind: Literal["remote"] = "remote"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    type: Literal["http", "streamable-http", "sse"] = "streamable-http"


ServerConfig = Annotated[StdioServerConfig | RemoteServerConfig, Field(discriminator="kind")]
