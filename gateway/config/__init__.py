"""Configuration: `GatewaySettings` and how it is loaded."""

from gateway.config._load import DEFAULT_CONFIG_FILE, load_settings
from gateway.config._model import ModelSettings
from gateway.config._proxy import DEFAULT_BETA_ALLOW_LIST, DEFAULT_MODEL_MAP, ProxySettings
from gateway.config._sandbox import AgentCoreSettings, ExecutionLimits, SandboxSettings
from gateway.config._serve import ApprovalSettings, ServeSettings, StubSettings
from gateway.config._servers import RemoteServerConfig, ServerConfig, ServerKind, StdioServerConfig
from gateway.config._settings import GatewaySettings

__all__ = [
    "AgentCoreSettings",
    "DEFAULT_BETA_ALLOW_LIST",
    "DEFAULT_CONFIG_FILE",
    "DEFAULT_MODEL_MAP",
    "ApprovalSettings",
    "ExecutionLimits",
    "GatewaySettings",
    "ModelSettings",
    "ProxySettings",
    "RemoteServerConfig",
    "SandboxSettings",
    "ServeSettings",
    "ServerConfig",
    "ServerKind",
    "StdioServerConfig",
    "StubSettings",
    "load_settings",
]
