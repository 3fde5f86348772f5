"""Every broken config is a ConfigError naming the file, the server and the key; never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load_settings
from gateway.errors import ConfigError


def load_toml(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> ConfigError:
    config = tmp_path / "gateway.toml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(config_file=config, environ=environ or {})
    return caught.value


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    error = load_toml(tmp_path, '[limits]\nmax_tool_calls = 7\n[servers.a]\ncommand = "x\n')
    assert error.file == str(tmp_path / "gateway.toml")
    assert str(error).startswith(f"{tmp_path / 'gateway.toml'}: TOML syntax error: ")
    assert "line 4" in str(error)


def test_unknown_top_level_key(tmp_path: Path) -> None:
    error = load_toml(tmp_path, "[limit]\nmax_tool_calls = 7\n")
    assert (error.file, error.server, error.key) == (str(tmp_path / "gateway.toml"), None, "limit")
    assert str(error) == f"{tmp_path / 'gateway.toml'}: key 'limit': unknown key (did you mean 'limits'?) (at line 1)"


def test_unknown_section_key(tmp_path: Path) -> None:
    error = load_toml(tmp_path, "[limits]\nmax_tool_call = 7\n")
    assert error.key == "limits.max_tool_call"
    assert "did you mean 'max_tool_calls'?" in str(error)


def test_unknown_server_key_suggests_the_right_one(tmp_path: Path) -> None:
    error = load_toml(tmp_path, '[servers.time]\ncommand = "x"\nenviron = { A = "1" }\n')
    assert (error.server, error.key) == ("time", "environ")
    assert (
        str(error)
        == f"{tmp_path / 'gateway.toml'}: server 'time': key 'environ': unknown key (did you mean 'env'?) (at line 3)"
    )


def test_unknown_server_key_lists_known_keys_when_nothing_is_close(tmp_path: Path) -> None:
    error = load_toml(tmp_path, '[servers.web]\nurl = "http://x"\nzzz = 1\n')
    assert (error.server, error.key) == ("web", "zzz")
    assert "known keys: " in str(error) and "headers" in str(error) and "kind" not in str(error)


def test_wrong_type(tmp_path: Path) -> None:
    error = load_toml(tmp_path, '[servers.time]\ncommand = "x"\ntimeout = "soon"\n')
    assert (error.server, error.key) == ("time", "timeout")
    assert "valid number" in str(error) and "'soon'" in str(error)


def test_wrong_type_in_a_list(tmp_path: Path) -> None:
    error = load_toml(tmp_path, '[servers.time]\ncommand = "x"\nargs = ["a", 2]\n')
    assert (error.server, error.key) == ("time", "args[1]")
    assert "valid string" in str(error)


def test_out_of_range(tmp_path: Path) -> None:
    error = load_toml(tmp_path, "[limits]\nmax_concurrent_calls = 0\n")
    assert error.key == "limits.max_concurrent_calls"
    assert "greater than or equal to 1" in str(error)


def test_bad_literal(tmp_path: Path) -> None:
    error = load_toml(tmp_path, '[approval]\ndestructive = "maybe"\n')
    assert error.key == "approval.destructive"
    assert "'allow', 'ask' or 'deny'" in str(error)


def test_several_problems_are_all_listed(tmp_path: Path) -> None:
    error = load_toml(tmp_path, '[limits]\nmax_tool_calls = "x"\n[servers.a]\ncommand = "x"\ntimeout = -1\n')
    text = str(error)
    assert "key 'limits.max_tool_calls'" in text
    assert "\n  and " in text and "server 'a': key 'timeout'" in text


def test_missing_command_and_url(tmp_path: Path) -> None:
    error = load_toml(tmp_path, "[servers.time]\nargs = []\n")
    assert (error.server, error.key) == ("time", None)
    assert str(error) == (
        f"{tmp_path / 'gateway.toml'}: server 'time': "
        "missing `command` (a stdio server) or `url` (a remote server) (at line 1)"
    )


def test_both_command_and_url(tmp_path: Path) -> None:
    error = load_toml(tmp_path, '[servers.time]\ncommand = "x"\nurl = "http://x"\n')
    assert (error.server, error.key) == ("time", "url")
    assert "has both `command` (stdio) and `url` (remote)" in str(error)


def test_kind_is_not_written_by_users(tmp_path: Path) -> None:
    error = load_toml(tmp_path, '[servers.time]\ncommand = "x"\nkind = "stdio"\n')
    assert (error.server, error.key) == ("time", "kind")
    assert "inferred" in str(error)


def test_remote_type_on_a_stdio_server(tmp_path: Path) -> None:
    error = load_toml(tmp_path, '[servers.time]\ncommand = "x"\ntype = "sse"\n')
    assert (error.server, error.key) == ("time", "type")
    assert "type 'sse' is for remote servers" in str(error)


def test_stdio_type_on_a_remote_server(tmp_path: Path) -> None:
    error = load_toml(tmp_path, '[servers.web]\nurl = "http://x"\ntype = "stdio"\n')
    assert (error.server, error.key) == ("web", "type")


def test_unknown_remote_type(tmp_path: Path) -> None:
    error = load_toml(tmp_path, '[servers.web]\nurl = "http://x"\ntype = "websocket"\n')
    assert (error.server, error.key) == ("web", "type")
    assert "'http', 'streamable-http' or 'sse'" in str(error)


def test_server_entry_must_be_a_table(tmp_path: Path) -> None:
    error = load_toml(tmp_path, 'servers = { time = "uvx mcp-server-time" }\n')
    assert error.server == "time"
    assert "must be a table" in str(error)
    error = load_toml(tmp_path, 'servers = "x"\n')
    assert error.key == "servers"


def test_unset_variable_names_file_server_and_key(tmp_path: Path) -> None:
    error = load_toml(tmp_path, '[servers.gh]\ncommand = "x"\nargs = ["--token", "${GITHUB_TOKEN}"]\n')
    assert (error.file, error.server, error.key) == (str(tmp_path / "gateway.toml"), "gh", "args[1]")
    assert "environment variable GITHUB_TOKEN is not set" in str(error)
    assert "${GITHUB_TOKEN:-default}" in str(error)


def test_unset_variable_in_env_and_headers(tmp_path: Path) -> None:
    error = load_toml(tmp_path, '[servers.gh]\ncommand = "x"\nenv = { T = "${NOPE}" }\n')
    assert error.key == "env.T"
    error = load_toml(tmp_path, '[servers.w]\nurl = "http://x"\nheaders = { Authorization = "Bearer ${NOPE}" }\n')
    assert error.key == "headers.Authorization"


def test_vs_code_input_variables_are_explained(tmp_path: Path) -> None:
    error = load_toml(tmp_path, '[servers.gh]\ncommand = "x"\nenv = { T = "${input:token}" }\n')
    assert "is a VS Code variable" in str(error)
    error = load_toml(tmp_path, '[servers.gh]\ncommand = "x"\nargs = ["${not valid}"]\n')
    assert "is not a valid reference" in str(error)


def test_bad_environment_override_names_the_variable(tmp_path: Path) -> None:
    error = load_toml(tmp_path, "[limits]\nmax_tool_calls = 7\n", environ={"PTC_LIMITS__MAX_TOOL_CALLS": "lots"})
    assert error.file == "environment variable PTC_LIMITS__MAX_TOOL_CALLS"
    assert error.key == "limits.max_tool_calls"
    assert "'lots'" in str(error)


def test_bad_environment_override_of_a_server(tmp_path: Path) -> None:
    error = load_toml(tmp_path, '[servers.a]\ncommand = "x"\n', environ={"PTC_SERVERS__A__TIMEOUT": "never"})
    assert (error.file, error.server, error.key) == ("environment variable PTC_SERVERS__A__TIMEOUT", "a", "timeout")


def test_unparseable_environment_json() -> None:
    with pytest.raises(ConfigError, match=r"^environment: cannot parse a PTC_\* variable"):
        load_settings(environ={"PTC_SANDBOX": "{not json"})


def test_servers_file_key_must_be_a_string(tmp_path: Path) -> None:
    error = load_toml(tmp_path, "servers_file = 3\n")
    assert error.key == "servers_file"


def test_errors_point_at_the_toml_line(tmp_path: Path) -> None:
    text = """# comment
"servers".b.command = "y"
servers.b.timeout = "soon"

[limits]
max_tool_calls = 7

[servers.a]
command = "x"
args = [
  "one",
  2,
]

[servers."c d"]
url = "http://x"
headers = { A = "${NOPE}" }
"""
    config = tmp_path / "gateway.toml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(config_file=config, environ={})
    # expansion is checked first: the unset variable, on the line of the inline table
    assert (caught.value.server, caught.value.key) == ("c d", "headers.A")
    assert str(caught.value).endswith("(at line 17)")
    config.write_text(text.replace("${NOPE}", "v"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(config_file=config, environ={})
    lines = str(caught.value).splitlines()
    assert lines[1].endswith("server 'a': key 'args[1]': Input should be a valid string (got 2) (at line 10)")
    assert lines[0].endswith(
        "server 'b': key 'timeout': Input should be a valid number, unable to parse string as a number "
        "(got 'soon') (at line 3)"
    )
