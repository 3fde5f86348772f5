"""The list of subcommand modules. Add a module's `register` here to add a command."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from gateway.cli import _cmd_ask, _cmd_doctor, _cmd_image, _cmd_proxy, _cmd_run, _cmd_serve, _cmd_tools

__all__ = ["REGISTRARS"]

Registrar = Callable[["argparse._SubParsersAction[Any]"], None]  # pyright: ignore[reportPrivateUsage]

REGISTRARS: tuple[Registrar, ...] = (
    _cmd_image.register,
    _cmd_run.register,
    _cmd_serve.register,
    _cmd_ask.register,
    _cmd_tools.register,
    _cmd_doctor.register,
    _cmd_proxy.register,
)
