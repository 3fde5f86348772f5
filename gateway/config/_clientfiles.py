"""The JSON server files users already have: Claude Desktop, Cursor, Claude Code, VS Code.

- `{"mcpServers": {...}}`: Claude Desktop (`claude_desktop_config.json`), Cursor (`mcp.json`),
  Claude Code (`.mcp.json`), Windsurf, Cline.
- `{"servers": {...}}`: VS Code (`.vscode/mcp.json`); `{"mcp": {"servers": {...}}}` in a VS Code
  `settings.json`.

Files are read as JSON with comments and trailing commas (VS Code writes JSONC). Only the server
table is read: other top-level keys (VS Code `inputs`, Claude Desktop `globalShortcut`…) belong to
the client and are ignored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

from gateway.errors import ConfigError

__all__ = ["CLIENT_ONLY_KEYS", "read_servers_file"]

CLIENT_ONLY_KEYS = frozenset({"dev", "gallery", "version", "autoApprove", "alwaysAllow"})
"""Per-server keys other clients write that mean nothing to the gateway; dropped silently.

VS Code: `dev` (watch/debug mode), `gallery`, `version`; Cline / Roo Code: `autoApprove`,
`alwaysAllow` (their own approval lists; ours is `require_approval`).
"""

_REFUSED_KEYS = {
    "envFile": "is not supported: list the variables under `env` (values may use ${VAR})",
}


def read_servers_file(path: Path, *, label: str) -> dict[str, dict[str, object]]:
    """The raw server entries of one client JSON file, keyed by server name."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("servers file not found", file=label) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read servers file: {e}", file=label) from None
    try:
        document: object = json.loads(strip_jsonc(text))
    except json.JSONDecodeError as e:
        raise ConfigError(f"invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}", file=label) from None
    table, key = _server_table(document, label)
    entries: dict[str, dict[str, object]] = {}
    for name, entry in table.items():
        if not name:
            raise ConfigError("a server name must not be empty", file=label, key=key)
        if not isinstance(entry, dict):
            raise ConfigError(f"a server entry must be an object, got {type(entry).__name__}", file=label, server=name)
        fields = cast(dict[str, object], entry)
        for refused, why in _REFUSED_KEYS.items():
            if refused in fields:
                raise ConfigError(why, file=label, server=name, key=refused)
        entries[name] = {k: v for k, v in fields.items() if k not in CLIENT_ONLY_KEYS}
    return entries


def _server_table(document: object, label: str) -> tuple[dict[str, object], str]:
    if not isinstance(document, dict):
        raise ConfigError("expected a JSON object with an `mcpServers` or `servers` object", file=label)
    top = cast(dict[str, object], document)
    nested = top.get("mcp")
    if "mcpServers" not in top and "servers" not in top and isinstance(nested, dict):
        top = cast(dict[str, object], nested)  # VS Code settings.json: {"mcp": {"servers": {...}}}
    if "mcpServers" in top and "servers" in top:
        raise ConfigError("has both `mcpServers` and `servers`; keep one", file=label)
    key = "mcpServers" if "mcpServers" in top else "servers"
    if key not in top:
        raise ConfigError(
            "no server table: expected `mcpServers` (Claude Desktop, Cursor, Claude Code) or `servers` (VS Code)",
            file=label,
        )
    table = top[key]
    if not isinstance(table, dict):
        raise ConfigError(f"must be an object of servers, got {type(table).__name__}", file=label, key=key)
    return cast(dict[str, object], table), key


def strip_jsonc(text: str) -> str:
    """Blank out `//` and `/* */` comments and trailing commas, keeping line and column numbers."""
    out: list[str] = []
    i, n = 0, len(text)
    pending_comma: int | None = None  # index in `out` of a comma that may turn out to be trailing
    while i < n:
        char = text[i]
        if char == '"':
            end = i + 1
            while end < n and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            out.append(text[i : end + 1])
            pending_comma = None
            i = end + 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end == -1 else end
            out.append(" " * (end - i))
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end == -1 else end + 2
            out.append("".join(c if c == "\n" else " " for c in text[i:end]))
            i = end
        else:
            if char in "]}" and pending_comma is not None:
                out[pending_comma] = " "
            if not char.isspace():
                pending_comma = len(out) if char == "," else None
            out.append(char)
            i += 1
    return "".join(out)
