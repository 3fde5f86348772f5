"""load_settings: where settings come from, and in which order."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gateway.config import DEFAULT_CONFIG_FILE, RemoteServerConfig, StdioServerConfig, load_settings
from gateway.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_when_there_is_no_file() -> None:
    settings = load_settings(environ={})
    assert settings.servers == {}
    assert settings.servers_file is None
    assert settings.limits.max_tool_calls == 1000
    assert settings.approval.default == "allow"


def test_explicit_file(tmp_path: Path) -> None:
    config = write(tmp_path / "elsewhere" / "g.toml", "[limits]\nmax_tool_calls = 7\n")
    assert load_settings(config_file=config, environ={}).limits.max_tool_calls == 7
    assert load_settings(config_file=str(config), environ={}).limits.max_tool_calls == 7


def test_ptc_config_variable(tmp_path: Path) -> None:
    config = write(tmp_path / "x.toml", "[limits]\nmax_tool_calls = 8\n")
    assert load_settings(environ={"PTC_CONFIG": str(config)}).limits.max_tool_calls == 8


def test_default_file_in_the_current_directory() -> None:
    write(DEFAULT_CONFIG_FILE, "[limits]\nmax_tool_calls = 9\n")
    assert load_settings(environ={}).limits.max_tool_calls == 9


def test_argument_beats_ptc_config_beats_default(tmp_path: Path) -> None:
    write(DEFAULT_CONFIG_FILE, "[limits]\nmax_tool_calls = 1\n")
    from_env = write(tmp_path / "env.toml", "[limits]\nmax_tool_calls = 2\n")
    from_arg = write(tmp_path / "arg.toml", "[limits]\nmax_tool_calls = 3\n")
    environ = {"PTC_CONFIG": str(from_env)}
    assert load_settings(config_file=from_arg, environ=environ).limits.max_tool_calls == 3
    assert load_settings(environ=environ).limits.max_tool_calls == 2


def test_environment_wins_over_toml(tmp_path: Path) -> None:
    config = write(
        tmp_path / "g.toml", '[limits]\nmax_tool_calls = 7\nmax_concurrent_calls = 4\n[sandbox]\nimage = "a"\n'
    )
    settings = load_settings(
        config_file=config,
        environ={"PTC_LIMITS__MAX_TOOL_CALLS": "50", "PTC_SERVE__TRANSPORT": "http", "PTC_SANDBOX": '{"pool_size": 0}'},
    )
    assert settings.limits.max_tool_calls == 50
    assert settings.limits.max_concurrent_calls == 4  # untouched TOML key survives the nested override
    assert settings.serve.transport == "http"
    assert settings.sandbox.pool_size == 0
    assert settings.sandbox.image == "a"


def test_environ_argument_is_hermetic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTC_LIMITS__MAX_TOOL_CALLS", "5")
    assert load_settings(environ={}).limits.max_tool_calls == 1000
    assert load_settings().limits.max_tool_calls == 5  # default: os.environ


def test_short_aliases_and_the_nested_spelling_wins() -> None:
    settings = load_settings(environ={"PTC_AUTH_TOKEN": "short", "PTC_MODEL_ID": "m"})
    assert settings.serve.auth_token == "short"
    assert settings.model.id == "m"
    both = load_settings(environ={"PTC_AUTH_TOKEN": "short", "PTC_SERVE__AUTH_TOKEN": "nested"})
    assert both.serve.auth_token == "nested"


def test_toml_servers_of_both_kinds(tmp_path: Path) -> None:
    config = write(
        tmp_path / "g.toml",
        """
[servers.time]
command = "uvx"
args = ["mcp-server-time"]
env = { TZ = "UTC" }
timeout = 5
enabled_tools = ["get_*"]
disabled_tools = ["get_secret"]
require_approval = ["convert_time"]

[servers.web]
url = "https://mcp.example.com/mcp"
headers = { Authorization = "Bearer t" }

[servers.legacy]
url = "https://old.example.com/sse"
type = "sse"

[servers.off]
command = "nothing"
disabled = true
""",
    )
    settings = load_settings(config_file=config, environ={})
    time = settings.servers["time"]
    assert isinstance(time, StdioServerConfig)
    assert (time.kind, time.command, time.args, time.env, time.timeout) == (
        "stdio",
        "uvx",
        ["mcp-server-time"],
        {"TZ": "UTC"},
        5.0,
    )
    assert (time.enabled_tools, time.disabled_tools, time.require_approval) == (
        ["get_*"],
        ["get_secret"],
        ["convert_time"],
    )
    web = settings.servers["web"]
    assert isinstance(web, RemoteServerConfig)
    assert (web.kind, web.type, web.headers) == ("remote", "streamable-http", {"Authorization": "Bearer t"})
    legacy = settings.servers["legacy"]
    assert isinstance(legacy, RemoteServerConfig) and legacy.type == "sse"
    assert list(settings.resolved_servers()) == ["legacy", "time", "web"]


def test_relative_cwd_is_resolved_against_the_declaring_file(tmp_path: Path) -> None:
    config = write(tmp_path / "conf" / "g.toml", '[servers.a]\ncommand = "x"\ncwd = "../srv"\n')
    settings = load_settings(config_file=config, environ={"HOME": str(tmp_path)})
    assert settings.servers["a"].model_dump()["cwd"] == str((tmp_path / "srv").resolve())
    absolute = write(tmp_path / "h.toml", '[servers.a]\ncommand = "x"\ncwd = "/opt/srv"\n')
    assert load_settings(config_file=absolute, environ={}).servers["a"].model_dump()["cwd"] == "/opt/srv"


def test_environment_overrides_a_server_key(tmp_path: Path) -> None:
    config = write(tmp_path / "g.toml", '[servers.a]\ncommand = "x"\ntimeout = 5\nenv = { A = "1" }\n')
    settings = load_settings(
        config_file=config, environ={"PTC_SERVERS__A__TIMEOUT": "9", "PTC_SERVERS__A__ENV": '{"b": "2"}'}
    )
    server = settings.servers["a"]
    assert isinstance(server, StdioServerConfig)
    assert server.timeout == 9.0
    assert server.env == {"A": "1", "b": "2"}


def test_shipped_config_loads_from_anywhere() -> None:
    shipped = Path(__file__).resolve().parents[2] / "configs" / "gateway.toml"
    settings = load_settings(config_file=shipped, environ={})
    expenses = settings.servers["expenses"]
    assert isinstance(expenses, StdioServerConfig)
    assert expenses.command == sys.executable
    assert expenses.cwd is not None and expenses.cwd == str(shipped.parent.parent.resolve())
    assert (Path(expenses.cwd) / expenses.args[0]).is_file()
    override = load_settings(config_file=shipped, environ={"PTC_PYTHON": "/usr/bin/python3"})
    assert override.servers["expenses"].model_dump()["command"] == "/usr/bin/python3"


def test_config_file_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as caught:
        load_settings(config_file=missing, environ={})
    assert caught.value.file == str(missing)
    assert str(caught.value) == f"{missing}: config file not found"
    with pytest.raises(ConfigError, match="nope.toml: config file not found"):
        load_settings(environ={"PTC_CONFIG": str(missing)})


def test_config_file_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(config_file=tmp_path, environ={})
