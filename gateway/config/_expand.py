"""`${VAR}` and `${VAR:-default}` expansion in server entries."""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["ExpansionError", "expand"]

_REFERENCE = re.compile(r"\$(\$?)\{([^}]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_VS_CODE_VARIABLES = frozenset(
    {"input", "workspaceFolder", "workspaceFolderBasename", "userHome", "config", "command", "pathSeparator"}
)


class ExpansionError(ValueError):
    """A reference that cannot be expanded; the caller adds file, server and key."""


def expand(text: str, environ: Mapping[str, str]) -> str:
    """Expand every `${NAME}`, `${NAME:-default}` and `${env:NAME}` in `text`.

    `${NAME:-default}` uses the default when NAME is unset or empty (as the shell does);
    `$${...}` is a literal `${...}`. An unset `${NAME}` without default raises `ExpansionError`.
    """

    def replace(match: re.Match[str]) -> str:
        escaped, body = match.group(1), match.group(2)
        if escaped:
            return "${" + body + "}"
        name, has_default, default = body.partition(":-")
        if name.startswith("env:"):  # VS Code's spelling of an environment variable
            name = name[len("env:") :]
        if not _NAME.fullmatch(name) or (name in _VS_CODE_VARIABLES and name not in environ):
            raise ExpansionError(_explain_unsupported(body))
        value = environ.get(name)
        if has_default:
            return value if value else default
        if value is None:
            raise ExpansionError(
                f"environment variable {name} is not set (referenced as ${{{name}}}; "
                f"set it, or write ${{{name}:-default}} to give a default)"
            )
        return value

    return _REFERENCE.sub(replace, text)


def _explain_unsupported(body: str) -> str:
    prefix = body.partition(":")[0]
    if prefix in _VS_CODE_VARIABLES:
        return (
            f"${{{body}}} is a VS Code variable, which ptc-gateway cannot resolve; "
            "use ${NAME} with an environment variable, or write the value"
        )
    return f"${{{body}}} is not a valid reference; write ${{NAME}} or ${{NAME:-default}}"
