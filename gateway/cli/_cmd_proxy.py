"""`ptc-gateway proxy`: the Anthropic Messages API over Bedrock, with programmatic tool calling."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Any

import anyio

from gateway.app import open_gateway
from gateway.cli._common import add_fleet_options, add_sandbox_option, load_fleet_settings
from gateway.errors import ConfigError
from gateway.proxy import open_proxy, serve_proxy

__all__ = ["register"]

logger = logging.getLogger(__name__)

_LOOPBACK = frozenset({"127.0.0.1", "::1", "[::1]", "localhost"})


def register(subparsers: argparse._SubParsersAction[Any]) -> None:  # pyright: ignore[reportPrivateUsage]
    """Add `proxy`."""
    parser = subparsers.add_parser(
        "proxy",
        help="serve the Anthropic Messages API over Bedrock (point an Anthropic SDK's base_url here)",
        description="An Anthropic-SDK-compatible HTTP proxy: /v1/messages on Bedrock models, with "
        "programmatic tool calling run in the gateway's sandbox against its MCP fleet. See docs/proxy.md.",
    )
    add_fleet_options(parser)
    parser.add_argument("--host", default=None, help="bind address (default: [proxy] host, 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: [proxy] port, 8080; 0 picks one)")
    add_sandbox_option(parser)
    parser.set_defaults(handler=_proxy)


async def _proxy(args: argparse.Namespace) -> int:
    settings = await load_fleet_settings(args)
    updates = {key: value for key, value in (("host", args.host), ("port", args.port)) if value is not None}
    proxy = settings.proxy.model_copy(update=updates)
    settings = settings.model_copy(update={"proxy": proxy})
    if not proxy.api_keys and proxy.host not in _LOOPBACK:
        raise ConfigError(
            f"the proxy would listen on {proxy.host} without API keys: set PTC_API_KEYS (comma-separated) "
            "or [proxy] api_keys",
            key="proxy.api_keys",
        )
    async with open_gateway(settings) as gateway, open_proxy(gateway) as running, anyio.create_task_group() as tg:
        stop = anyio.Event()

        async def on_signals() -> None:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    logger.info("received %s; shutting down", signal.Signals(signum).name)
                    stop.set()
                    return

        tg.start_soon(on_signals)
        await serve_proxy(running.app, host=proxy.host, port=proxy.port, stop=stop, on_listening=_announce)
        tg.cancel_scope.cancel()
    return 0


def _announce(url: str) -> None:
    print(f"ptc-gateway: Anthropic-compatible proxy on {url} (ANTHROPIC_BASE_URL={url})", file=sys.stderr, flush=True)
