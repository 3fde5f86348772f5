"""What the configuration promises about stdio servers, checked against the real SDK and a real child.

docs/configuration.md says a stdio server sees only its configured `env` plus the few variables
the MCP SDK passes (HOME, LOGNAME, PATH, SHELL, TERM, USER); and the shipped config starts the
demo server with the gateway's own interpreter from any directory.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from gateway.config import StdioServerConfig, load_settings

SHIPPED_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "gateway.toml"
ENV_SERVER = textwrap.dedent(
    """
    import json, os
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("env")

    @server.tool()
    def environ() -> str:
        return json.dumps({"keys": sorted(os.environ), "cwd": os.getcwd(), "probe": os.environ.get("PROBE")})

    server.run()
    """
)


def params(server: StdioServerConfig) -> StdioServerParameters:
    return StdioServerParameters(command=server.command, args=server.args, env=server.env, cwd=server.cwd)


def text_of(result: object) -> str:
    content = getattr(result, "content")  # noqa: B009 - SDK result, kept out of our types
    return content[0].text


@pytest.mark.anyio
async def test_stdio_child_sees_only_its_env_and_the_sdk_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "env_server.py").write_text(ENV_SERVER, encoding="utf-8")
    config = tmp_path / "gateway.toml"
    config.write_text(
        '[servers.env]\ncommand = "${PTC_PYTHON}"\nargs = ["env_server.py"]\ncwd = "."\n'
        'env = { PROBE = "${PROBE_SOURCE:-none}" }\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("PTC_SECRET_FOR_TEST", "must-not-leak")
    settings = load_settings(config_file=config, environ={"PROBE_SOURCE": "given"})
    server = settings.servers["env"]
    assert isinstance(server, StdioServerConfig)
    with anyio.fail_after(60):
        async with Client(params(server)) as client:
            seen = json.loads(text_of(await client.call_tool("environ", {})))
    assert seen["probe"] == "given"
    assert seen["cwd"] == server.cwd  # "." resolved against the config file's directory
    assert "PTC_SECRET_FOR_TEST" not in seen["keys"]
    # Python itself may add LC_CTYPE when it coerces the C locale; nothing else appears.
    assert set(seen["keys"]) - {"LC_CTYPE"} <= {"HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER", "PROBE"}


@pytest.mark.anyio
async def test_shipped_config_starts_the_demo_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # not the project root: the config must not depend on the cwd
    server = load_settings(config_file=SHIPPED_CONFIG, environ={}).servers["expenses"]
    assert isinstance(server, StdioServerConfig)
    with anyio.fail_after(60):
        async with Client(params(server)) as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
    assert {"get_team_members", "get_expenses", "get_custom_budget"} <= tools
