"""Servers from the JSON files users already have: Claude Desktop / Cursor / Claude Code, VS Code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.config import RemoteServerConfig, StdioServerConfig, load_settings
from gateway.config._clientfiles import strip_jsonc
from gateway.errors import ConfigError

CLAUDE_DESKTOP = {
    "globalShortcut": "Ctrl+Space",
    "mcpServers": {
        "filesystem": {
            "command": "npx",
            "args": ["-y", "@modelcontextprotocol/server-filesystem", "${HOME}/Desktop"],
            "env": {"DEBUG": "${DEBUG:-0}"},
        },
        "remote": {"url": "https://mcp.example.com/mcp", "headers": {"Authorization": "Bearer ${TOKEN}"}},
    },
}

CLAUDE_CODE = {
    "mcpServers": {
        "local": {"type": "stdio", "command": "uvx", "args": ["mcp-server-time"]},
        "api": {"type": "http", "url": "https://api.example.com/mcp"},
        "events": {"type": "sse", "url": "https://events.example.com/sse"},
    }
}

VS_CODE = """{
  // VS Code writes JSON with comments and trailing commas.
  "inputs": [{"type": "promptString", "id": "token", "description": "Token", "password": true}],
  "servers": {
    "git": {
      "type": "stdio",
      "command": "uvx",
      "args": ["mcp-server-git", "--repository", "${env:REPO}"],  /* VS Code's ${env:...} works too */
      "dev": {"watch": "src/**/*.py"},
    },
    "docs": {"type": "http", "url": "https://docs.example.com/mcp?x=//not-a-comment",},
  },
}
"""

ENVIRON = {"HOME": "/home/u", "TOKEN": "t0k", "REPO": "/src/repo"}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_claude_desktop_format(tmp_path: Path) -> None:
    servers_file = write(tmp_path / "claude_desktop_config.json", json.dumps(CLAUDE_DESKTOP))
    settings = load_settings(servers_file=servers_file, environ=ENVIRON)
    filesystem = settings.servers["filesystem"]
    assert isinstance(filesystem, StdioServerConfig)
    assert filesystem.args[-1] == "/home/u/Desktop"
    assert filesystem.env == {"DEBUG": "0"}
    remote = settings.servers["remote"]
    assert isinstance(remote, RemoteServerConfig)
    assert remote.type == "streamable-http"  # url and no type
    assert remote.headers == {"Authorization": "Bearer t0k"}
    assert settings.servers_file == str(servers_file)


def test_claude_code_format_with_types(tmp_path: Path) -> None:
    servers_file = write(tmp_path / ".mcp.json", json.dumps(CLAUDE_CODE))
    servers = load_settings(servers_file=servers_file, environ={}).servers
    assert isinstance(servers["local"], StdioServerConfig)
    assert servers["api"].model_dump()["type"] == "http"
    assert servers["events"].model_dump()["type"] == "sse"


def test_vs_code_format_with_comments_inputs_and_dev(tmp_path: Path) -> None:
    servers_file = write(tmp_path / ".vscode" / "mcp.json", VS_CODE)
    servers = load_settings(servers_file=servers_file, environ=ENVIRON).servers
    git = servers["git"]
    assert isinstance(git, StdioServerConfig)
    assert git.args == ["mcp-server-git", "--repository", "/src/repo"]
    docs = servers["docs"]
    assert isinstance(docs, RemoteServerConfig)
    assert docs.url == "https://docs.example.com/mcp?x=//not-a-comment"


def test_vs_code_settings_json(tmp_path: Path) -> None:
    servers_file = write(tmp_path / "settings.json", '{"mcp": {"servers": {"t": {"command": "uvx"}}}}')
    assert list(load_settings(servers_file=servers_file, environ={}).servers) == ["t"]


def test_servers_file_key_is_relative_to_the_toml(tmp_path: Path) -> None:
    write(tmp_path / "conf" / "servers.json", json.dumps(CLAUDE_CODE))
    config = write(tmp_path / "conf" / "gateway.toml", 'servers_file = "servers.json"\n')
    settings = load_settings(config_file=config, environ={})
    assert sorted(settings.servers) == ["api", "events", "local"]


def test_servers_argument_replaces_the_key(tmp_path: Path) -> None:
    write(tmp_path / "conf" / "servers.json", json.dumps(CLAUDE_CODE))
    other = write(tmp_path / "other.json", '{"mcpServers": {"only": {"command": "x"}}}')
    config = write(tmp_path / "conf" / "gateway.toml", 'servers_file = "servers.json"\n')
    assert list(load_settings(config_file=config, servers_file=other, environ={}).servers) == ["only"]
    by_env = load_settings(config_file=config, environ={"PTC_SERVERS_FILE": str(other)})
    assert list(by_env.servers) == ["only"]


def test_toml_adjusts_a_json_server_key_by_key(tmp_path: Path) -> None:
    servers_file = write(tmp_path / "s.json", json.dumps(CLAUDE_CODE))
    config = write(
        tmp_path / "g.toml",
        '[servers.local]\ndisabled_tools = ["convert_*"]\ntimeout = 3\n[servers.mine]\ncommand = "y"\n',
    )
    servers = load_settings(config_file=config, servers_file=servers_file, environ={}).servers
    local = servers["local"]
    assert isinstance(local, StdioServerConfig)
    assert (local.command, local.args, local.disabled_tools, local.timeout) == (
        "uvx",
        ["mcp-server-time"],
        ["convert_*"],
        3.0,
    )
    assert sorted(servers) == ["api", "events", "local", "mine"]


def test_toml_with_command_or_url_replaces_the_json_server(tmp_path: Path) -> None:
    servers_file = write(tmp_path / "s.json", json.dumps(CLAUDE_CODE))
    config = write(tmp_path / "g.toml", '[servers.local]\nurl = "http://localhost:1/mcp"\n')
    local = load_settings(config_file=config, servers_file=servers_file, environ={}).servers["local"]
    assert isinstance(local, RemoteServerConfig)


def test_errors_in_json_entries_name_the_json_file(tmp_path: Path) -> None:
    servers_file = write(tmp_path / "s.json", '{"mcpServers": {"a": {"command": "x", "argz": []}}}')
    with pytest.raises(ConfigError) as caught:
        load_settings(servers_file=servers_file, environ={})
    assert (caught.value.file, caught.value.server, caught.value.key) == (str(servers_file), "a", "argz")
    assert "did you mean 'args'?" in str(caught.value)


def test_errors_in_toml_adjustments_name_the_toml_file(tmp_path: Path) -> None:
    servers_file = write(tmp_path / "s.json", json.dumps(CLAUDE_CODE))
    config = write(tmp_path / "g.toml", '[servers.local]\ntimeout = "x"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(config_file=config, servers_file=servers_file, environ={})
    assert (caught.value.file, caught.value.server, caught.value.key) == (str(config), "local", "timeout")


def test_unset_variable_in_json(tmp_path: Path) -> None:
    servers_file = write(tmp_path / "s.json", json.dumps(CLAUDE_DESKTOP))
    with pytest.raises(ConfigError) as caught:
        load_settings(servers_file=servers_file, environ={"HOME": "/h"})
    assert (caught.value.file, caught.value.server, caught.value.key) == (
        str(servers_file),
        "remote",
        "headers.Authorization",
    )


def test_bad_json_names_file_line_and_column(tmp_path: Path) -> None:
    servers_file = write(tmp_path / "s.json", '{\n  "mcpServers": {\n    "a": {"command" "x"}\n  }\n}\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(servers_file=servers_file, environ={})
    assert str(caught.value) == f"{servers_file}: invalid JSON at line 3, column 21: Expecting ':' delimiter"


def test_servers_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(servers_file=tmp_path / "missing.json", environ={})
    assert str(caught.value) == f"{tmp_path / 'missing.json'}: servers file not found"
    config = write(tmp_path / "g.toml", 'servers_file = "gone.json"\n')
    with pytest.raises(ConfigError, match="gone.json: servers file not found"):
        load_settings(config_file=config, environ={})


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("[]", "expected a JSON object"),
        ('{"other": {}}', "no server table"),
        ('{"mcpServers": [], "x": 1}', "key 'mcpServers': must be an object of servers"),
        ('{"mcpServers": {}, "servers": {}}', "has both `mcpServers` and `servers`"),
        ('{"servers": {"a": "uvx x"}}', "server 'a': a server entry must be an object"),
        ('{"servers": {"": {"command": "x"}}}', "key 'servers': a server name must not be empty"),
    ],
)
def test_malformed_server_tables(tmp_path: Path, document: str, expected: str) -> None:
    servers_file = write(tmp_path / "s.json", document)
    with pytest.raises(ConfigError) as caught:
        load_settings(servers_file=servers_file, environ={})
    assert str(caught.value).startswith(f"{servers_file}: ")
    assert expected in str(caught.value)


def test_env_file_is_refused_rather_than_ignored(tmp_path: Path) -> None:
    servers_file = write(tmp_path / "s.json", '{"servers": {"a": {"command": "x", "envFile": ".env"}}}')
    with pytest.raises(ConfigError) as caught:
        load_settings(servers_file=servers_file, environ={})
    assert (caught.value.server, caught.value.key) == ("a", "envFile")
    assert "list the variables under `env`" in str(caught.value)


def test_client_only_keys_are_ignored(tmp_path: Path) -> None:
    entry = {"command": "x", "autoApprove": ["a"], "alwaysAllow": [], "gallery": True, "version": "1"}
    servers_file = write(tmp_path / "s.json", json.dumps({"mcpServers": {"a": entry}}))
    assert load_settings(servers_file=servers_file, environ={}).servers["a"].model_dump()["command"] == "x"


def test_strip_jsonc_keeps_strings_and_positions() -> None:
    text = '{"a": "x // y /* z */", // c\n "b": [1, 2,], /* multi\nline */ "c": "\\"//"}'
    stripped = strip_jsonc(text)
    assert json.loads(stripped) == {"a": "x // y /* z */", "b": [1, 2], "c": '"//'}
    assert stripped.count("\n") == text.count("\n")
    assert len(stripped) == len(text)
