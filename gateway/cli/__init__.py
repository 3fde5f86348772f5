"""`ptc-gateway` command line.

Each subcommand lives in its own module exposing `register(subparsers)`; the module adds its
parser and sets `handler` to an async function `(args) -> int` (the exit code). Logging goes to
stderr; stdout is for the command's output (and, in `serve --transport stdio`, the protocol only).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import anyio

from gateway.cli import _commands
from gateway.errors import ConfigError, GatewayError

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser."""
    parser = argparse.ArgumentParser(
        prog="ptc-gateway",
        description="Programmatic tool calling over MCP fleets, in a hardened sandbox.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging on stderr (-vv: debug)")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in _commands.REGISTRARS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `ptc-gateway` script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return anyio.run(args.handler, args)
    except ConfigError as e:
        print(f"ptc-gateway: configuration error: {e}", file=sys.stderr)
        return 2
    except GatewayError as e:
        print(f"ptc-gateway: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
