"""Fast checks of the pure pieces: result rendering against the output schema, the HTTP bind rules, the CLI."""

from __future__ import annotations

import subprocess

import jsonschema
import pytest

from gateway.cli import build_parser
from gateway.config import ServeSettings
from gateway.errors import ConfigError
from gateway.executor import ExecutionFailure, ExecutionResult
from gateway.server import OUTPUT_SCHEMA, transport_security
from gateway.server._tool import render_result
from tests.server.conftest import GATEWAY

OK = ExecutionResult(stdout="4 people\n", stderr="", error=None, tool_calls=1, duration_s=0.25)
FAILED = ExecutionResult(
    stdout="partial\n",
    stderr="warning: x\n",
    error=ExecutionFailure(kind="timeout", type="ExecutionTimeoutError", message="timed out after 30 s"),
    tool_calls=12,
    duration_s=30.0,
    stdout_truncated=True,
)


@pytest.mark.parametrize("result", [OK, FAILED], ids=["ok", "failed"])
def test_structured_content_matches_the_output_schema(result: ExecutionResult) -> None:
    rendered = render_result(result)
    jsonschema.validate(rendered.structured_content, OUTPUT_SCHEMA)
    assert rendered.is_error is (result.error is not None)


def test_text_content_says_everything_structured_content_does() -> None:
    assert render_result(OK).content[0].text == "4 people\n[1 tool call in 0.25 s]"  # type: ignore[union-attr]
    text = render_result(FAILED).content[0].text  # type: ignore[union-attr]
    assert text == (
        "partial\n[stdout truncated]\n--- stderr ---\nwarning: x\n"
        "--- error (timeout) ---\nExecutionTimeoutError: timed out after 30 s\n[12 tool calls in 30.00 s]"
    )


def test_loopback_binds_are_protected_by_default() -> None:
    security = transport_security(ServeSettings())
    assert security.enable_dns_rebinding_protection
    assert "127.0.0.1:*" in security.allowed_hosts
    assert "http://localhost:*" in security.allowed_origins


def test_non_loopback_bind_needs_allowed_hosts() -> None:
    with pytest.raises(ConfigError, match="serve.allowed_hosts"):
        transport_security(ServeSettings(host="0.0.0.0"))
    security = transport_security(ServeSettings(host="0.0.0.0", allowed_hosts=["gateway.internal:8765"]))
    assert "gateway.internal:8765" in security.allowed_hosts


def test_cli_refuses_an_unsafe_bind_before_starting_anything() -> None:
    run = subprocess.run(
        [GATEWAY, "serve", "--transport", "http", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PTC_CONFIG": "/dev/null"},
        check=False,
    )
    assert run.returncode == 2
    assert "serve.allowed_hosts" in run.stderr
    assert run.stdout == ""


def test_serve_is_a_registered_command() -> None:
    args = build_parser().parse_args(["serve", "--transport", "http", "--port", "0", "--sandbox", "local-process"])
    assert (args.command, args.transport, args.port, args.sandbox) == ("serve", "http", 0, "local-process")
