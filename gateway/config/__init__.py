"""Configuration: `GatewaySettings` and how it is loaded."""

from gateway.config._model import ModelSettings
from gateway.config._sandbox import ExecutionLimits, SandboxSettings
from gateway.config._serve import ApprovalSettings, ServeSettings, StubSettings
from gateway.config._servers import RemoteServerConfig, ServerConfig, StdioServerConfig
from gateway.config._settings import GatewaySettings

__all__ = [
    "ApprovalSettings",
    "ExecutionLimits",
    "GatewaySettings",
    "ModelSettings",
    "RemoteServerConfig",
    "SandboxSettings",
    "ServeSettings",
    "ServerConfig",
    "StdioServerConfig",
    "StubSettings",
]
