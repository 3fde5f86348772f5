"""Where `scripts/install-test-servers` put the third-party MCP servers, as ready server configs.

    require_installed()                      # skip (fail under CI) with the command that fixes it
    fleet = {"time": time_server(), "git": git_server(repo), "fs": filesystem_server(tmp_path)}

PyPI servers live in their own virtualenvs under `.cache/servers/<name>/`, the npm servers in
`tests/servers/node_modules/` (pinned by the package-lock.json next to this file).
"""

from __future__ import annotations

from pathlib import Path

from gateway.config import StdioServerConfig
from tests._support import require

__all__ = [
    "INSTALL_COMMAND",
    "REPO",
    "everything_server",
    "filesystem_server",
    "git_server",
    "installed",
    "memory_server",
    "require_installed",
    "time_server",
]

REPO = Path(__file__).resolve().parents[2]
INSTALL_COMMAND = "scripts/install-test-servers"
_PYPI = REPO / ".cache" / "servers"
_NPM_BIN = Path(__file__).resolve().parent / "node_modules" / ".bin"

_EXECUTABLES = {
    "mcp-server-time": _PYPI / "mcp-server-time" / "bin" / "mcp-server-time",
    "mcp-server-git": _PYPI / "mcp-server-git" / "bin" / "mcp-server-git",
    "mcp-server-everything": _NPM_BIN / "mcp-server-everything",
    "mcp-server-memory": _NPM_BIN / "mcp-server-memory",
    "mcp-server-filesystem": _NPM_BIN / "mcp-server-filesystem",
}


def installed() -> list[str]:
    """The servers that are missing (empty when all five are installed)."""
    return [name for name, path in _EXECUTABLES.items() if not path.exists()]


def require_installed() -> None:
    """Skip the test (fail it under CI) unless all five servers are installed."""
    missing = installed()
    require(not missing, f"the MCP test servers ({', '.join(missing)})", INSTALL_COMMAND)


def time_server(**extra: object) -> StdioServerConfig:
    """`mcp-server-time` (PyPI, Python SDK 2.x)."""
    return StdioServerConfig.model_validate({"command": str(_EXECUTABLES["mcp-server-time"]), **extra})


def git_server(repository: Path, **extra: object) -> StdioServerConfig:
    """`mcp-server-git` on `repository` (PyPI, Python SDK 2.x)."""
    return StdioServerConfig.model_validate(
        {"command": str(_EXECUTABLES["mcp-server-git"]), "args": ["--repository", str(repository)], **extra}
    )


def everything_server(**extra: object) -> StdioServerConfig:
    """`@modelcontextprotocol/server-everything` (npm, TypeScript SDK 1.x: protocol 2025-11-25)."""
    return StdioServerConfig.model_validate({"command": str(_EXECUTABLES["mcp-server-everything"]), **extra})


def memory_server(memory_file: Path, **extra: object) -> StdioServerConfig:
    """`@modelcontextprotocol/server-memory`, its knowledge graph in `memory_file`."""
    return StdioServerConfig.model_validate(
        {
            "command": str(_EXECUTABLES["mcp-server-memory"]),
            "env": {"MEMORY_FILE_PATH": str(memory_file)},
            **extra,
        }
    )


def filesystem_server(root: Path, **extra: object) -> StdioServerConfig:
    """`@modelcontextprotocol/server-filesystem` confined to `root`."""
    return StdioServerConfig.model_validate(
        {"command": str(_EXECUTABLES["mcp-server-filesystem"]), "args": [str(root)], **extra}
    )
