"""`ptc-gateway run FILE|-`: run async Python against the fleet in the sandbox; print its stdout."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from gateway.app import open_gateway
from gateway.cli._common import FLEET_READY_TIMEOUT_S, add_fleet_options, add_sandbox_option, load_fleet_settings
from gateway.errors import ConfigError
from gateway.executor import ExecutionResult
from gateway.policy import AskFn
from gateway.tools import JsonValue, ToolRef, ToolSpec

__all__ = ["register"]

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[Any]) -> None:  # pyright: ignore[reportPrivateUsage]
    """Add `run`."""
    parser = subparsers.add_parser(
        "run",
        help="run async Python against the fleet in the sandbox; print its stdout",
        description="Run a file of Python (top-level await allowed; every server is a namespace of async "
        "tool functions) once in a fresh sandbox. The program's stdout goes to stdout and its stderr to "
        "stderr; when the code fails, the error goes to stderr and the exit status is 1.",
    )
    add_fleet_options(parser)
    parser.add_argument("file", metavar="FILE|-", help="the code to run; '-' reads it from stdin")
    parser.add_argument(
        "--wait",
        type=float,
        default=FLEET_READY_TIMEOUT_S,
        metavar="SECONDS",
        help=f"longest wait for the servers' first connection attempts (default {FLEET_READY_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--timeout", type=float, default=None, metavar="SECONDS", help="override [limits] execution_timeout_s"
    )
    add_sandbox_option(parser)
    parser.add_argument(
        "--yes",
        action="store_true",
        help="approve every call the approval policy would ask about (default: ask on the terminal when the "
        "code comes from a file and stdin is a terminal, else refuse those calls)",
    )
    parser.set_defaults(handler=_run)


async def _read_code(file: str) -> str:
    if file == "-":
        return await anyio.to_thread.run_sync(sys.stdin.read)
    try:
        return await anyio.Path(file).read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read the code: {e.strerror}", file=str(Path(file))) from e


async def _run(args: argparse.Namespace) -> int:
    settings = await load_fleet_settings(args)
    code = await _read_code(args.file)
    # One execution: a warm pool would only start containers nobody uses.
    updates: dict[str, Any] = {"sandbox": settings.sandbox.model_copy(update={"pool_size": 0})}
    if args.timeout is not None:
        updates["limits"] = settings.limits.model_copy(update={"execution_timeout_s": args.timeout})
    settings = settings.model_copy(update=updates)
    async with open_gateway(settings) as gateway:
        try:
            await gateway.fleet.wait_ready(args.wait)
        except TimeoutError:
            logger.warning("some servers had not answered after %g s; running without them", args.wait)
        result = await gateway.execute(code, ask=_approver(args))
    return _report(result)


def _approver(args: argparse.Namespace) -> AskFn | None:
    """How this run answers calls that need approval: --yes, a terminal prompt, or refusal (None)."""
    if args.yes:

        async def approve_all(ref: ToolRef, spec: ToolSpec, arguments: Mapping[str, JsonValue]) -> bool:
            return True

        return approve_all
    if args.file == "-" or not sys.stdin.isatty():
        return None

    # One question at a time even when the code gathers calls: ApprovalToolSource serialises its asks.
    async def prompt(ref: ToolRef, spec: ToolSpec, arguments: Mapping[str, JsonValue]) -> bool:
        shown = json.dumps(arguments, ensure_ascii=False)
        question = f"ptc-gateway: allow {ref}({shown[:500]})? [y/N] "
        answer = await anyio.to_thread.run_sync(_ask_terminal, question)
        return answer.strip().lower() in ("y", "yes")

    return prompt


def _ask_terminal(question: str) -> str:
    sys.stderr.write(question)
    sys.stderr.flush()
    return sys.stdin.readline()


def _report(result: ExecutionResult) -> int:
    sys.stdout.write(result.stdout)
    sys.stdout.flush()
    sys.stderr.write(result.stderr)
    if result.error is None:
        return 0
    error = result.error
    if error.traceback:
        text = error.traceback if error.traceback.endswith("\n") else error.traceback + "\n"
    else:
        text = f"{error.type}: {error.message}\n"
    sys.stderr.write(f"ptc-gateway: the code failed ({error.kind}):\n{text}")
    sys.stderr.flush()
    return 1
