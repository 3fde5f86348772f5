"""Options shared by every subcommand that needs the fleet, and loading the settings they name."""

from __future__ import annotations

import argparse
import functools
import signal

import anyio.to_thread

from gateway.config import GatewaySettings, load_settings

__all__ = ["FLEET_READY_TIMEOUT_S", "STOP_SIGNALS", "add_fleet_options", "load_fleet_settings"]

FLEET_READY_TIMEOUT_S = 60.0
"""How long a one-shot command (`tools`, `run`, `ask`) waits for every server's first connection attempt."""

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
"""Signals that cancel a command (and `serve` also on SIGINT): containers are removed on the way out."""


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


def add_sandbox_option(parser: argparse.ArgumentParser) -> None:
    """`--sandbox BACKEND`, which `load_fleet_settings` applies over `[sandbox] backend`."""
    parser.add_argument(
        "--sandbox",
        choices=("docker", "agentcore", "local-process"),
        default=None,
        help="sandbox backend (default: [sandbox] backend, docker; agentcore: [sandbox.agentcore]); "
        "local-process is for tests only",
    )


async def load_fleet_settings(args: argparse.Namespace) -> GatewaySettings:
    """The settings `--config` / `--servers` name, read in a worker thread (file I/O is blocking).

    A `--sandbox` choice (`add_sandbox_option`) replaces `[sandbox] backend`.

    Raises:
        ConfigError: a file is missing or invalid (the message names the file and key).
    """
    settings = await anyio.to_thread.run_sync(
        functools.partial(load_settings, config_file=args.config, servers_file=args.servers)
    )
    backend: str | None = getattr(args, "sandbox", None)
    if backend is not None:
        settings = settings.model_copy(update={"sandbox": settings.sandbox.model_copy(update={"backend": backend})})
    return settings
