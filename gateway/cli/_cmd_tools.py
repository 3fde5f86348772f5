"""`ptc-gateway tools`: the fleet's catalog as the stub module, as JSON, or as the model's prompt."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any, Literal

from gateway.app import fleet_source
from gateway.cli._common import FLEET_READY_TIMEOUT_S, add_fleet_options, load_fleet_settings
from gateway.stubs import Toolbox, build_toolbox, catalog_json
from gateway.upstream import connect_fleet

__all__ = ["register", "render_catalog"]

logger = logging.getLogger(__name__)

Format = Literal["python", "json", "prompt"]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:  # pyright: ignore[reportPrivateUsage]
    """Add `tools`."""
    parser = subparsers.add_parser(
        "tools",
        help="print the fleet's tools: stub module (python), catalog (json) or the model's prompt",
        description="Connect to every configured MCP server, wait for each one's first connection attempt, "
        "and print the catalog. python: the importable stub module the sandbox loads; json: server, "
        "original and Python names, schemas and annotations of every tool; prompt: the exact text the "
        "model sees. Servers that fail are reported on stderr (exit status 1); the others are printed.",
    )
    add_fleet_options(parser)
    parser.add_argument("--format", choices=("python", "json", "prompt"), default="python", help="default: python")
    parser.add_argument(
        "--wait",
        type=float,
        default=FLEET_READY_TIMEOUT_S,
        metavar="SECONDS",
        help=f"longest wait for the servers' first connection attempts (default {FLEET_READY_TIMEOUT_S:g})",
    )
    parser.set_defaults(handler=_tools)


def render_catalog(toolbox: Toolbox, output: Format) -> str:
    """The text `tools --format <output>` prints."""
    match output:
        case "python":
            return toolbox.stubs
        case "json":
            return json.dumps(catalog_json(toolbox.catalog), indent=2, ensure_ascii=False) + "\n"
        case "prompt":
            prompt = toolbox.prompt
            logger.info(
                "stubs: %d bytes, JSON definitions: %d bytes (ratio %.2f), %s prompt",
                prompt.stub_bytes,
                prompt.json_bytes,
                prompt.ratio,
                "compact" if prompt.compact else "full",
            )
            return prompt.text


async def _tools(args: argparse.Namespace) -> int:
    settings = await load_fleet_settings(args)
    servers = settings.resolved_servers()
    failed: list[str] = []
    async with connect_fleet(servers) as fleet:
        try:
            await fleet.wait_ready(args.wait)
        except TimeoutError:
            logger.warning("some servers had not answered after %g s; printing the others", args.wait)
        for name, status in fleet.status().items():
            if status.state != "ready":
                failed.append(name)
                reason = status.error or f"still {status.state}"
                print(f"ptc-gateway: server {name!r} is not available: {reason}", file=sys.stderr)
        source = fleet_source(fleet, settings)
        toolbox = build_toolbox(await source.list_tools(), settings=settings, descriptions=fleet.descriptions())
    sys.stdout.write(render_catalog(toolbox, args.format))
    sys.stdout.flush()
    return 1 if failed else 0
