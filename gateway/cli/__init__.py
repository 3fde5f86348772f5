"""`ptc-gateway` command line.

Each subcommand lives in its own module exposing `register(subparsers)`; the module adds its
parser and sets `handler` to an async function `(args) -> int` (the exit code). Logging goes to
stderr; stdout is for the command's output (and, in `serve --transport stdio`, the protocol only).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import cast

import anyio

from gateway.cli import _commands
from gateway.cli._common import STOP_SIGNALS
from gateway.errors import ConfigError, GatewayError

__all__ = ["main", "run_command"]


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


async def run_command(args: argparse.Namespace) -> int:
    """Run the chosen command; SIGTERM and SIGHUP cancel it (exit status 128 + signal number).

    Cancellation is how every command cleans up (containers killed and removed, servers stopped),
    so a command ended by `timeout`, systemd or a closed terminal leaves nothing behind. A command
    that handles signals itself (`serve`) says so with `handles_signals`.
    """
    handler = cast(Callable[[argparse.Namespace], Awaitable[int]], args.handler)
    if getattr(args, "handles_signals", False):
        return await handler(args)
    received: int | None = None
    status = 0
    error: Exception | None = None
    # Installed until the clean-up is over: a second signal cannot cut it short.
    with anyio.open_signal_receiver(*STOP_SIGNALS) as signals:
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                nonlocal received
                async for signum in signals:
                    logging.getLogger(__name__).info("received %s; stopping", signal.Signals(signum).name)
                    received = signum
                    tg.cancel_scope.cancel()
                    return

            async def command() -> None:
                nonlocal status, error
                try:
                    status = await handler(args)
                except Exception as e:  # re-raised below, outside the task group (no exception group)
                    error = e
                finally:
                    tg.cancel_scope.cancel()

            tg.start_soon(watch)
            tg.start_soon(command)
    if error is not None:
        raise error
    return 128 + received if received is not None else status


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `ptc-gateway` script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return anyio.run(run_command, args)
    except ConfigError as e:
        print(f"ptc-gateway: configuration error: {e}", file=sys.stderr)
        return 2
    except GatewayError as e:
        print(f"ptc-gateway: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
