"""docs/configuration.md is the reference: it must mention every server key and every section."""

from __future__ import annotations

from pathlib import Path

from gateway.config import GatewaySettings, RemoteServerConfig, StdioServerConfig
from gateway.config._clientfiles import CLIENT_ONLY_KEYS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text(encoding="utf-8")


def test_every_server_key_is_documented() -> None:
    keys = (set(StdioServerConfig.model_fields) | set(RemoteServerConfig.model_fields)) - {"kind"}
    assert sorted(key for key in keys if f"| `{key}` |" not in DOC) == []


def test_every_section_and_top_level_key_is_documented() -> None:
    missing = [key for key in GatewaySettings.model_fields if f"`{key}`" not in DOC and f"[{key}" not in DOC]
    assert missing == []


def test_client_only_keys_are_documented() -> None:
    assert sorted(key for key in CLIENT_ONLY_KEYS if f"`{key}`" not in DOC) == []
