"""The seccomp profile applied to every Docker sandbox: ours by default (`seccomp.json` next to this module).

Docker's API takes a profile's JSON text in `security_opt` (`seccomp=<json>`), not a path, so the
profile is read here (blocking: call it from a worker thread) and adapted to the settings: AF_INET
and AF_INET6 sockets are added only when `inet_sockets` allows them.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any, cast

from gateway.config import SandboxSettings
from gateway.errors import ConfigError

__all__ = ["AF_INET", "AF_INET6", "builtin_profile", "inet_sockets_allowed", "seccomp_security_opt"]

AF_INET = 2
AF_INET6 = 10


def inet_sockets_allowed(settings: SandboxSettings) -> bool:
    """Whether the code may open TCP/UDP sockets: `inet_sockets`, or by default only with a network."""
    if settings.inet_sockets is not None:
        return settings.inet_sockets
    return settings.network_mode != "none"


def builtin_profile(*, inet_sockets: bool) -> dict[str, Any]:
    """Our profile as a JSON object, with the inet socket rules when asked for. Blocking (reads a file)."""
    text = resources.files("gateway.sandbox").joinpath("seccomp.json").read_text("utf-8")
    profile = cast(dict[str, Any], json.loads(text))
    if inet_sockets:
        syscalls = cast(list[dict[str, Any]], profile["syscalls"])
        for family in (AF_INET, AF_INET6):
            syscalls.append(
                {
                    "names": ["socket"],
                    "action": "SCMP_ACT_ALLOW",
                    "args": [{"index": 0, "value": family, "op": "SCMP_CMP_EQ"}],
                }
            )
    return profile


def seccomp_security_opt(settings: SandboxSettings) -> list[str]:
    """`security_opt` with the configured seccomp profile added. Blocking (reads a file)."""
    options = list(settings.security_opt)
    if any(option.startswith("seccomp") for option in options) or settings.seccomp == "engine":
        return options
    if settings.seccomp == "builtin":
        profile = builtin_profile(inet_sockets=inet_sockets_allowed(settings))
    else:
        try:
            profile = json.loads(Path(settings.seccomp).read_text("utf-8"))
        except (OSError, ValueError) as e:
            raise ConfigError(
                f"[sandbox] seccomp: cannot read the profile {settings.seccomp!r} ({e}); "
                'use "builtin", "engine" or the path of a seccomp profile JSON file'
            ) from e
    return [*options, "seccomp=" + json.dumps(profile, separators=(",", ":"))]
