"""Server entries: stdio and remote MCP servers, as declared in TOML or in client JSON files.

Users never write `kind`: it is inferred from the entry's keys (`command` → stdio, `url` →
remote). `gateway.config.load_settings` checks the ambiguous cases first (both or neither) so the
error names the file and the server; the discriminator below does the same inference for entries
built in code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

__all__ = ["RemoteServerConfig", "ServerConfig", "ServerKind", "StdioServerConfig", "infer_server_kind"]

ServerKind = Literal["stdio", "remote"]


class _ServerCommon(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    timeout: float = Field(default=30.0, gt=0)
    """Per-call timeout in seconds for this server."""
    enabled_tools: list[str] | None = None
    """When set, only these tools (fnmatch patterns on the original names) are shown and callable."""
    disabled_tools: list[str] = Field(default_factory=list)
    """Tools (fnmatch patterns) hidden from the model and refused; wins over `enabled_tools`."""
    disabled: bool = False
    """A disabled server is kept in the file but never started."""
    require_approval: list[str] = Field(default_factory=list)
    """Tool names (fnmatch patterns) that always ask the user before a call goes through."""
    max_message_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    """Largest JSON-RPC message (a tool result, a tool list) accepted from this server; a bigger one
    fails the call it answers, without being read whole (stdio line, HTTP body or SSE event)."""
    max_tools: int = Field(default=10_000, ge=1, le=1_000_000)
    """Most tools taken from this server's `tools/list`; the rest are left out with a warning naming this key."""


class StdioServerConfig(_ServerCommon):
    """A server started as a child process speaking MCP over stdio."""

    kind: Literal["stdio"] = "stdio"
    type: Literal["stdio"] = "stdio"
    """Accepted because VS Code and Claude Code write it; carries no information."""
    command: str
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    """The child's environment on top of the few variables the MCP SDK passes (see docs/configuration.md)."""
    cwd: str | None = None
    """Working directory; `load_settings` resolves a relative one against the declaring file's directory."""


class RemoteServerConfig(_ServerCommon):
    """A server reached over HTTP (streamable HTTP or legacy SSE)."""

    kind: Literal["remote"] = "remote"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    type: Literal["http", "streamable-http", "sse"] = "streamable-http"
    """`http` and `streamable-http` both mean streamable HTTP; `sse` is the legacy HTTP+SSE transport."""


def infer_server_kind(entry: object) -> ServerKind | None:
    """`stdio` for an entry with `command`, `remote` for one with `url`; None when ambiguous."""
    if isinstance(entry, StdioServerConfig | RemoteServerConfig):
        return entry.kind
    if not isinstance(entry, Mapping):
        return None
    keys: Mapping[object, object] = entry  # pyright: ignore[reportUnknownVariableType]
    match keys.get("kind"):
        case "stdio":
            return "stdio"
        case "remote":
            return "remote"
        case _:
            pass
    has_command, has_url = "command" in keys, "url" in keys
    if has_command and not has_url:
        return "stdio"
    if has_url and not has_command:
        return "remote"
    return None


ServerConfig = Annotated[
    Annotated[StdioServerConfig, Tag("stdio")] | Annotated[RemoteServerConfig, Tag("remote")],
    Discriminator(
        infer_server_kind,
        custom_error_type="server_kind",
        custom_error_message="a server needs either `command` (stdio) or `url` (remote), and not both",
    ),
]
