"""`ptc-gateway doctor`: one line per check, with the fix when something is wrong."""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

from gateway.cli._common import add_fleet_options, load_fleet_settings
from gateway.doctor import Check, run_checks

__all__ = ["register"]

_MARK = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL", "skip": "--  "}


def register(subparsers: argparse._SubParsersAction[Any]) -> None:  # pyright: ignore[reportPrivateUsage]
    """Add `doctor`."""
    parser = subparsers.add_parser(
        "doctor",
        help="check the Docker engine, the sandbox image, every server, AWS and OTel settings",
        description="Exit status 0 only when everything the configuration needs is in order (warnings allowed).",
    )
    add_fleet_options(parser)
    parser.set_defaults(handler=_doctor)


def format_check(check: Check) -> str:
    """`STATE name: detail [-> fix: ...]` on one line."""
    line = f"{_MARK[check.state]}  {check.name}: {check.detail}"
    return f"{line}  -> fix: {check.fix}" if check.fix and check.state in ("fail", "warn") else line


async def _doctor(args: argparse.Namespace) -> int:
    if not args.verbose:
        # The server lines say what failed; the fleet's own retry log would repeat it on stderr.
        logging.getLogger("gateway.upstream").setLevel(logging.CRITICAL)
    settings = await load_fleet_settings(args)
    checks = await run_checks(settings, dict(os.environ))
    for check in checks:
        print(format_check(check), flush=True)
    failed = sum(check.state == "fail" for check in checks)
    print(f"{failed} problem(s) found" if failed else "everything needed is in order", flush=True)
    return 1 if failed else 0
