"""Options shared by every subcommand that needs the fleet."""

from __future__ import annotations

import argparse

__all__ = ["add_fleet_options"]


def add_fleet_options(parser: argparse.ArgumentParser) -> None:
    """`--config FILE` and `--servers FILE`."""
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help="gateway TOML file (env PTC_CONFIG; default configs/gateway.toml when it exists)",
    )
    parser.add_argument(
        "--servers",
        metavar="FILE",
        default=None,
        help="MCP servers JSON file in Claude Desktop/Cursor ('mcpServers') or VS Code ('servers') format",
    )
