"""`load_settings`: TOML file + client JSON servers file + `PTC_*` environment → `GatewaySettings`.

Precedence, highest first:

1. `PTC_*` environment variables (nested with `__`: `PTC_LIMITS__MAX_TOOL_CALLS=50`);
2. the TOML file (`config_file`, else env `PTC_CONFIG`, else `configs/gateway.toml` when it exists);
3. for servers only: the JSON servers file (`servers_file`, else env `PTC_SERVERS_FILE`, else the
   TOML's `servers_file` key). A TOML `[servers.NAME]` with the same name as a JSON entry adjusts
   it key by key; one that declares `command` or `url` replaces it;
4. the defaults of the settings models.

Every mistake raises `ConfigError` naming the file (or environment variable), the server and the
key; a pydantic `ValidationError` is translated, never shown raw.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
import tomllib
from collections import ChainMap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import EnvSettingsSource, InitSettingsSource, SettingsError
from pydantic_settings.sources.utils import parse_env_vars

from gateway.config._clientfiles import read_servers_file
from gateway.config._expand import ExpansionError, expand
from gateway.config._servers import RemoteServerConfig, StdioServerConfig
from gateway.config._settings import GatewaySettings
from gateway.config._tomllines import find_line
from gateway.errors import ConfigError

__all__ = ["DEFAULT_CONFIG_FILE", "load_settings"]

DEFAULT_CONFIG_FILE = Path("configs") / "gateway.toml"
"""Read when neither `config_file` nor `PTC_CONFIG` is given and it exists (relative to the cwd)."""

SHORT_ENV_ALIASES: Mapping[str, tuple[str, str]] = {
    "PTC_AUTH_TOKEN": ("serve", "auth_token"),
    "PTC_MODEL_ID": ("model", "id"),
    "PTC_API_KEYS": ("proxy", "api_keys"),
}
"""Short names of nested variables (`PTC_SERVE__AUTH_TOKEN`, `PTC_MODEL__ID`); the nested spelling wins."""

_REMOTE_TYPES = ("http", "streamable-http", "sse")
_EXPANDED_STRINGS = ("command", "cwd", "url")
_EXPANDED_LISTS = ("args",)
_EXPANDED_TABLES = ("env", "headers")


def load_settings(
    *,
    config_file: str | Path | None = None,
    servers_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> GatewaySettings:
    """Load the gateway's settings; see the module docstring for where they come from.

    Args:
        config_file: The TOML file (`--config`). Else env `PTC_CONFIG`, else `configs/gateway.toml`
            when it exists, else defaults only.
        servers_file: A Claude Desktop / Cursor / Claude Code or VS Code JSON file (`--servers`);
            replaces the TOML's `servers_file` key. Relative to the current directory.
        environ: The environment to read `PTC_*` overrides and `${VAR}` references from
            (default `os.environ`).

    Raises:
        ConfigError: the configuration is wrong; the message names the file, server and key.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    config_path = _find_config_file(config_file, env)
    document, text = _read_toml(config_path) if config_path is not None else ({}, "")
    toml = _Source(
        label=str(config_path) if config_path else "the defaults",
        base_dir=_dir_of(config_path),
        lines=tuple(text.splitlines()),
    )
    overrides = _read_environment(env)

    entries: dict[str, _Entry] = {}
    json_path = _servers_file_path(servers_file, overrides, document, toml)
    if json_path is not None:
        source = _Source(label=str(json_path), base_dir=json_path.parent)
        for name, data in read_servers_file(json_path, label=source.label).items():
            entries[name] = _Entry(data=data, declared_in=source)
    _overlay_toml_servers(entries, document.get("servers"), toml)
    _overlay_env_servers(entries, overrides.get("servers"))
    lookup = ChainMap(dict(env), {"PTC_PYTHON": sys.executable})
    for name, entry in entries.items():
        _finish_entry(name, entry, lookup)

    data = _deep_merge(
        {k: v for k, v in document.items() if k not in ("servers", "servers_file")},
        {k: v for k, v in overrides.items() if k not in ("servers", "servers_file")},
    )
    data["servers"] = {name: entry.data for name, entry in entries.items()}
    data["servers_file"] = str(json_path) if json_path is not None else None
    # Our data is the only source: the environment was read above from `env`, not `os.environ`.
    build = cast(Callable[..., GatewaySettings], GatewaySettings)  # `_build_sources` is not in its typed signature
    try:
        return build(_build_sources=((InitSettingsSource(GatewaySettings, init_kwargs=data),), {}))
    except ValidationError as e:
        raise _translate(e, toml=toml, overrides=overrides, entries=entries) from None


@dataclass(frozen=True, slots=True, kw_only=True)
class _Source:
    """Where something was declared: a label for messages and the directory relative paths use."""

    label: str
    base_dir: Path
    lines: tuple[str, ...] = ()
    """The TOML text, to point errors at a line (empty for JSON files and the environment)."""

    def error(self, message: str, *, server: str | None = None, key: str | None = None) -> ConfigError:
        """A `ConfigError` located here, with the TOML line when it can be found."""
        return ConfigError(self.locate(message, server=server, key=key), file=self.label, server=server, key=key)

    def locate(self, message: str, *, server: str | None = None, key: str | None = None) -> str:
        """`message`, plus ` (at line N)` when this is TOML text and the key is found in it."""
        if not self.lines:
            return message
        path = ["servers", server] if server is not None else []
        for part in re.split(r"\.|\[", key or ""):
            if not part or part.endswith("]"):
                break
            path.append(part)
        line = find_line(self.lines, path) if path else None
        return f"{message} (at line {line})" if line is not None else message


@dataclass(slots=True, kw_only=True)
class _Entry:
    """One server entry while it is assembled from the JSON file, the TOML file and the environment."""

    data: dict[str, object]
    declared_in: _Source
    origins: dict[str, _Source] = field(default_factory=dict[str, _Source])

    def source_of(self, key: str) -> _Source:
        return self.origins.get(key, self.declared_in)


# --- files -------------------------------------------------------------------------------------


def _dir_of(path: Path | None) -> Path:
    return path.parent if path is not None else Path.cwd()


def _find_config_file(config_file: str | Path | None, env: Mapping[str, str]) -> Path | None:
    if config_file is not None:
        return Path(config_file)
    if env.get("PTC_CONFIG"):
        return Path(env["PTC_CONFIG"])
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def _read_toml(path: Path) -> tuple[dict[str, object], str]:
    label = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("config file not found", file=label) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read config file: {e}", file=label) from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"TOML syntax error: {e}", file=label) from None


def _servers_file_path(
    argument: str | Path | None, overrides: Mapping[str, object], document: Mapping[str, object], toml: _Source
) -> Path | None:
    if argument is not None:
        return Path(argument)
    from_env = overrides.get("servers_file")
    if isinstance(from_env, str) and from_env:
        return Path(from_env).expanduser()
    from_toml = document.get("servers_file")
    if from_toml is None:
        return None
    if not isinstance(from_toml, str) or not from_toml:
        raise toml.error("must be the path of a JSON file (a string)", key="servers_file")
    path = Path(from_toml).expanduser()
    return path if path.is_absolute() else toml.base_dir / path


# --- environment -------------------------------------------------------------------------------


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source reading a given mapping instead of `os.environ`."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(GatewaySettings)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


def _read_environment(env: Mapping[str, str]) -> dict[str, object]:
    try:
        overrides = cast(dict[str, object], _MappingEnvSource(env)())
    except SettingsError as e:
        raise ConfigError(f"cannot parse a PTC_* variable: {e}", file="environment") from None
    for variable, (section, key) in SHORT_ENV_ALIASES.items():
        value = env.get(variable)
        table = overrides.get(section)
        if value and not (isinstance(table, dict) and key in table):  # the nested spelling wins
            current = cast(dict[str, object], table) if isinstance(table, dict) else {}
            overrides[section] = {**current, key: value}
    return overrides


def _env_variable(parts: tuple[str | int, ...]) -> str:
    return "PTC_" + "__".join(str(part) for part in parts).upper()


def _env_label(overrides: Mapping[str, object], loc: tuple[str | int, ...]) -> str | None:
    """The environment variable a validation error's location came from, if any."""
    node: object = overrides
    for depth, part in enumerate(loc):
        if not isinstance(node, dict) or part not in node:
            return None
        node = cast(dict[str | int, object], node)[part]
        if not isinstance(node, dict):
            return f"environment variable {_env_variable(loc[: depth + 1])}"
    return f"environment variable {_env_variable(loc)}"


# --- servers -----------------------------------------------------------------------------------


def _overlay_toml_servers(entries: dict[str, _Entry], table: object, toml: _Source) -> None:
    if table is None:
        return
    if not isinstance(table, dict):
        raise toml.error("must be a table of servers ([servers.NAME])", key="servers")
    for name, value in cast(dict[str, object], table).items():
        if not isinstance(value, dict):
            raise toml.error(
                f"a server entry must be a table ([servers.{name}]), got {type(value).__name__}", server=name
            )
        data = cast(dict[str, object], value)
        existing = entries.get(name)
        if existing is None or "command" in data or "url" in data:
            entries[name] = _Entry(data=dict(data), declared_in=toml)
        else:  # adjust the JSON entry of the same name, key by key
            for key, item in data.items():
                existing.data[key] = item
                existing.origins[key] = toml


def _overlay_env_servers(entries: dict[str, _Entry], table: object) -> None:
    if not isinstance(table, dict):
        return
    for name, value in cast(dict[str, object], table).items():
        where = _Source(label=f"environment variable {_env_variable(('servers', name))}", base_dir=Path.cwd())
        if not isinstance(value, dict):
            raise ConfigError("must set keys of a server (PTC_SERVERS__NAME__KEY)", file=where.label, server=name)
        data = cast(dict[str, object], value)
        entry = entries.get(name)
        if entry is None:
            entries[name] = _Entry(data=dict(data), declared_in=where)
            continue
        for key, item in data.items():
            source = _Source(label=f"environment variable {_env_variable(('servers', name, key))}", base_dir=Path.cwd())
            current = entry.data.get(key)
            if isinstance(current, dict) and isinstance(item, dict):
                entry.data[key] = _deep_merge(cast(dict[str, object], current), cast(dict[str, object], item))
            else:
                entry.data[key] = item
            entry.origins[key] = source


def _finish_entry(name: str, entry: _Entry, lookup: Mapping[str, str]) -> None:
    """Check the kind, expand `${VAR}` references and resolve a relative `cwd`, in place."""
    data = entry.data
    if not name:
        raise ConfigError("a server name must not be empty", file=entry.declared_in.label)
    if "kind" in data:
        raise entry.source_of("kind").error(
            "unknown key (the kind is inferred: `command` makes a stdio server, `url` a remote one)",
            server=name,
            key="kind",
        )
    has_command, has_url = "command" in data, "url" in data
    if has_command and has_url:
        raise entry.source_of("url").error(
            "has both `command` (stdio) and `url` (remote); keep one",
            server=name,
            key="url",
        )
    if not has_command and not has_url:
        raise entry.declared_in.error("missing `command` (a stdio server) or `url` (a remote server)", server=name)
    kind_type = data.get("type")
    if has_command and kind_type in _REMOTE_TYPES:
        raise entry.source_of("type").error(
            f"type {kind_type!r} is for remote servers (with `url`); a server with `command` is stdio",
            server=name,
            key="type",
        )
    if has_url and kind_type == "stdio":
        raise entry.source_of("type").error(
            "type 'stdio' needs `command`; a server with `url` is remote (type http, streamable-http or sse)",
            server=name,
            key="type",
        )
    _expand_entry(name, entry, lookup)
    cwd = data.get("cwd")
    if isinstance(cwd, str) and cwd:
        path = Path(cwd).expanduser()
        data["cwd"] = str(path if path.is_absolute() else (entry.source_of("cwd").base_dir / path).resolve())


def _expand_entry(name: str, entry: _Entry, lookup: Mapping[str, str]) -> None:
    data = entry.data

    def expanded(key: str, shown: str, value: object) -> object:
        if not isinstance(value, str):
            return value  # left for validation to report with the key
        try:
            return expand(value, lookup)
        except ExpansionError as e:
            raise entry.source_of(key).error(str(e), server=name, key=shown) from None

    for key in _EXPANDED_STRINGS:
        if key in data:
            data[key] = expanded(key, key, data[key])
    for key in _EXPANDED_LISTS:
        items = data.get(key)
        if isinstance(items, list):
            data[key] = [expanded(key, f"{key}[{i}]", item) for i, item in enumerate(cast(list[object], items))]
    for key in _EXPANDED_TABLES:
        table = data.get(key)
        if isinstance(table, dict):
            data[key] = {k: expanded(key, f"{key}.{k}", v) for k, v in cast(dict[str, object], table).items()}


# --- validation errors -------------------------------------------------------------------------


def _translate(
    error: ValidationError, *, toml: _Source, overrides: Mapping[str, object], entries: Mapping[str, _Entry]
) -> ConfigError:
    problems = [_locate(detail, toml=toml, overrides=overrides, entries=entries) for detail in error.errors()]
    first = problems[0]
    message = first.message
    if len(problems) > 1:
        message += "".join(f"\n  and {problem.render()}" for problem in problems[1:])
    return ConfigError(message, file=first.file, server=first.server, key=first.key)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Problem:
    file: str
    server: str | None
    key: str | None
    message: str

    def render(self) -> str:
        return str(ConfigError(self.message, file=self.file, server=self.server, key=self.key))


def _locate(
    detail: ErrorDetails, *, toml: _Source, overrides: Mapping[str, object], entries: Mapping[str, _Entry]
) -> _Problem:
    loc = tuple(detail["loc"])
    if len(loc) >= 2 and loc[0] == "servers" and isinstance(loc[1], str):
        name = loc[1]
        rest = loc[2:]
        kind = None
        if rest and rest[0] in ("stdio", "remote"):
            kind, rest = rest[0], rest[1:]
        entry = entries.get(name)
        key = _format_key(rest) if rest else None
        if entry is None:
            source = toml
        else:
            source = entry.source_of(str(rest[0])) if rest else entry.declared_in
        valid = _server_keys(kind) if len(rest) == 1 else []
        message = source.locate(_describe(detail, valid), server=name, key=key)
        return _Problem(file=source.label, server=name, key=key, message=message)
    key = _format_key(loc) or None
    message = _describe(detail, _section_keys(loc[:-1]))
    env_label = _env_label(overrides, loc)
    if env_label is not None:
        return _Problem(file=env_label, server=None, key=key, message=message)
    return _Problem(file=toml.label, server=None, key=key, message=toml.locate(message, key=key))


def _format_key(parts: tuple[str | int, ...]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _server_keys(kind: str | None) -> list[str]:
    model: type[BaseModel] = StdioServerConfig if kind == "stdio" else RemoteServerConfig
    return [key for key in model.model_fields if key != "kind"]


def _section_keys(parent: tuple[str | int, ...]) -> list[str]:
    model: type[BaseModel] = GatewaySettings
    for part in parent:
        info = model.model_fields.get(str(part))
        annotation = info.annotation if info is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def _describe(detail: ErrorDetails, valid_keys: list[str]) -> str:
    match detail["type"]:
        case "extra_forbidden":
            loc = detail["loc"]
            unknown = str(loc[-1]) if loc else ""
            close = difflib.get_close_matches(unknown, valid_keys, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            if valid_keys and not hint:
                hint = f" (known keys: {', '.join(sorted(valid_keys))})"
            return f"unknown key{hint}"
        case "missing":
            return "missing required key"
        case "server_kind":
            return str(detail["msg"])
        case _:
            shown = repr(detail.get("input"))
            if len(shown) > 80:
                shown = shown[:77] + "..."
            return f"{detail['msg']} (got {shown})"


def _deep_merge(base: Mapping[str, object], over: Mapping[str, object]) -> dict[str, object]:
    merged = dict(base)
    for key, value in over.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merged[key] = _deep_merge(cast(dict[str, object], current), cast(dict[str, object], value))
        else:
            merged[key] = value
    return merged
