"""`LazyBotoClient`: the one place boto3 clients are built (settings, region chain, errors, close)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from gateway.aws import BotoClientOptions, LazyBotoClient
from gateway.errors import ConfigError, GatewayError, SandboxUnavailableError

pytestmark = pytest.mark.anyio


def _client(**overrides: Any) -> LazyBotoClient[Any]:
    arguments: dict[str, Any] = {
        "region": None,
        "profile": None,
        "profile_key": "sandbox.agentcore.profile",
        "options": BotoClientOptions(),
        "on_error": lambda e: SandboxUnavailableError(f"cannot create the client: {e}"),
    } | overrides
    return LazyBotoClient("bedrock-agentcore", **arguments)


async def test_options_reach_the_client_and_it_is_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    lazy = _client(
        options=BotoClientOptions(
            max_attempts=3, retry_mode="adaptive", read_timeout_s=77, connect_timeout_s=5, max_pool_connections=33
        )
    )
    client = await lazy.get()
    assert await lazy.get() is client
    config = client.meta.config
    assert (config.read_timeout, config.connect_timeout, config.max_pool_connections) == (77, 5, 33)
    assert config.retries == {"mode": "adaptive", "total_max_attempts": 3}
    assert client.meta.region_name == "eu-central-1"  # AWS_REGION, which botocore alone does not read
    await lazy.aclose()


async def test_an_explicit_region_wins_and_aclose_rebuilds_on_next_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    lazy = _client(region="ap-south-1")
    first = await lazy.get()
    assert first.meta.region_name == "ap-south-1"
    closed: list[object] = []
    original = first.close
    monkeypatch.setattr(first, "close", lambda: (closed.append(first), original()))
    await lazy.aclose()
    await lazy.aclose()  # closing twice closes once
    assert closed == [first]
    assert await lazy.get() is not first
    await lazy.aclose()


async def test_a_missing_profile_names_the_settings_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    with anyio.fail_after(30), pytest.raises(ConfigError, match="AWS profile 'nope' not found") as info:
        await _client(profile="nope").get()
    assert info.value.key == "sandbox.agentcore.profile"


async def test_other_build_failures_become_the_callers_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    with anyio.fail_after(30), pytest.raises(GatewayError, match="cannot create the client: .*region") as info:
        await _client().get()
    assert isinstance(info.value, SandboxUnavailableError)
    assert isinstance(info.value.__cause__, Exception)
