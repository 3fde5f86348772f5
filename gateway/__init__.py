"""ptc-gateway: an MCP fleet as typed async Python, run in a hardened sandbox, served as one MCP tool."""

__version__ = "0.1.0"
"""The package version (the one source: pyproject.toml reads it from here)."""
