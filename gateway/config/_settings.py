"""`GatewaySettings`: the whole configuration, loaded from TOML plus `PTC_*` environment overrides."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.config._model import ModelSettings
from gateway.config._proxy import ProxySettings
from gateway.config._sandbox import ExecutionLimits, SandboxSettings
from gateway.config._serve import ApprovalSettings, ServeSettings, StubSettings
from gateway.config._servers import RemoteServerConfig, ServerConfig, StdioServerConfig

__all__ = ["GatewaySettings"]


class GatewaySettings(BaseSettings):
    """Everything the gateway is configured with.

    Build it with `gateway.config.load_settings` (TOML file + JSON servers file + `PTC_*`
    environment, `${VAR}` expanded, errors naming file/server/key). Constructing it directly reads
    only the environment and is meant for tests.
    """

    model_config = SettingsConfigDict(env_prefix="PTC_", env_nested_delimiter="__", extra="forbid")

    servers_file: str | None = None
    """A Claude Desktop / Cursor / Claude Code (`mcpServers`) or VS Code (`servers`) JSON file."""
    servers: dict[str, ServerConfig] = Field(default_factory=dict)
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    limits: ExecutionLimits = Field(default_factory=ExecutionLimits)
    stubs: StubSettings = Field(default_factory=StubSettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)
    approval: ApprovalSettings = Field(default_factory=ApprovalSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    """The Bedrock model behind `ptc-gateway ask` (the orchestrator)."""
    proxy: ProxySettings = Field(default_factory=ProxySettings)
    """The Anthropic-SDK-compatible proxy (`ptc-gateway proxy`)."""

    def resolved_servers(self) -> dict[str, StdioServerConfig | RemoteServerConfig]:
        """The servers to start: every configured server except the `disabled` ones, sorted by key."""
        return {name: self.servers[name] for name in sorted(self.servers) if not self.servers[name].disabled}
