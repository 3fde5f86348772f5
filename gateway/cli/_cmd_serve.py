"""`ptc-gateway serve`: the gateway as one MCP tool, over stdio (default) or streamable HTTP."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from typing import Any

import anyio

from gateway.cli._common import STOP_SIGNALS, add_fleet_options, add_sandbox_option, load_fleet_settings
from gateway.config import ServeSettings
from gateway.server import open_server, serve_http, serve_stdio, transport_security

__all__ = ["register"]

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[Any]) -> None:  # pyright: ignore[reportPrivateUsage]
    """Add `serve`."""
    parser = subparsers.add_parser(
        "serve",
        help="serve the fleet as one MCP tool (stdio for desktop clients, HTTP for remote agents)",
        description="Serve the gateway as an MCP server with exactly one tool. In stdio mode nothing but "
        "protocol is written to stdout; logs go to stderr.",
    )
    add_fleet_options(parser)
    parser.add_argument(
        "--transport", choices=("stdio", "http"), default=None, help="default: [serve] transport (stdio)"
    )
    parser.add_argument("--host", default=None, help="HTTP bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="HTTP port (default 8765; 0 picks a free one)")
    parser.add_argument("--tool-name", default=None, help="name of the one tool (default execute_code)")
    add_sandbox_option(parser)
    parser.set_defaults(handler=_serve, handles_signals=True)


async def _serve(args: argparse.Namespace) -> int:
    settings = await load_fleet_settings(args)
    overrides: dict[str, Any] = {
        key: value
        for key, value in (
            ("transport", args.transport),
            ("host", args.host),
            ("port", args.port),
            ("tool_name", args.tool_name),
        )
        if value is not None
    }
    token = os.environ.get("PTC_AUTH_TOKEN")
    if token and not settings.serve.auth_token:
        overrides["auth_token"] = token
    serve = ServeSettings.model_validate({**settings.serve.model_dump(), **overrides})
    settings = settings.model_copy(update={"serve": serve})
    if serve.transport == "http":
        transport_security(serve)  # refuse an unsafe bind before starting anything

    # SIGTERM (systemd, container runtimes, `timeout`) and SIGHUP (a closed terminal) stop the server
    # like Ctrl-C: the warm pool and running sandboxes are removed. The receiver stays installed until
    # the clean-up is over, so a second signal cannot cut it short.
    with anyio.open_signal_receiver(signal.SIGINT, *STOP_SIGNALS) as signals:
        async with open_server(settings) as server, anyio.create_task_group() as tg:
            stop = anyio.Event()

            async def on_signals() -> None:
                async for signum in signals:
                    logger.info("received %s; shutting down", signal.Signals(signum).name)
                    stop.set()
                    if serve.transport == "stdio":
                        tg.cancel_scope.cancel()
                    return

            tg.start_soon(on_signals)
            if serve.transport == "stdio":
                logger.info("serving MCP over stdio (tool %r)", serve.tool_name)
                await serve_stdio(server)
            else:
                await serve_http(server, stop=stop, on_listening=_announce)
            tg.cancel_scope.cancel()
    return 0


def _announce(url: str) -> None:
    # stderr, never stdout: scripts and tests read the URL from here.
    print(f"ptc-gateway: serving MCP on {url}", file=sys.stderr, flush=True)
