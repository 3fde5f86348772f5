"""The list of subcommand modules. Add a module's `register` here to add a command."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from gateway.cli import _ask, _image, _proxy, _run, _serve, _tools

__all__ = ["REGISTRARS"]

Registrar = Callable[["argparse._SubParsersAction[Any]"], None]  # pyright: ignore[reportPrivateUsage]

REGISTRARS: tuple[Registrar, ...] = (
    _image.register,
    _run.register,
    _serve.register,
    _ask.register,
    _tools.register,
    _proxy.register,
)
