"""`[proxy]`: the Anthropic-SDK-compatible HTTP proxy (`ptc-gateway proxy`)."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["DEFAULT_BETA_ALLOW_LIST", "DEFAULT_MODEL_MAP", "ProxySettings"]


def _claude(name: str, dated: str | None, bedrock: str) -> dict[str, str]:
    names = {name: bedrock}
    if dated is not None:
        names[dated] = bedrock
    return names


DEFAULT_MODEL_MAP: Mapping[str, str] = {
    **_claude("claude-opus-4-6", None, "us.anthropic.claude-opus-4-6-v1"),
    **_claude("claude-sonnet-4-6", None, "us.anthropic.claude-sonnet-4-6"),
    **_claude("claude-opus-4-5", "claude-opus-4-5-20251101", "us.anthropic.claude-opus-4-5-20251101-v1:0"),
    **_claude("claude-sonnet-4-5", "claude-sonnet-4-5-20250929", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
    **_claude("claude-haiku-4-5", "claude-haiku-4-5-20251001", "us.anthropic.claude-haiku-4-5-20251001-v1:0"),
    **_claude("claude-opus-4-1", "claude-opus-4-1-20250805", "us.anthropic.claude-opus-4-1-20250805-v1:0"),
    **_claude("claude-opus-4-0", "claude-opus-4-20250514", "us.anthropic.claude-opus-4-20250514-v1:0"),
    **_claude("claude-sonnet-4-0", "claude-sonnet-4-20250514", "us.anthropic.claude-sonnet-4-20250514-v1:0"),
    **_claude("claude-3-7-sonnet-latest", "claude-3-7-sonnet-20250219", "us.anthropic.claude-3-7-sonnet-20250219-v1:0"),
    **_claude("claude-3-5-haiku-latest", "claude-3-5-haiku-20241022", "us.anthropic.claude-3-5-haiku-20241022-v1:0"),
}
"""Anthropic API model names (undated aliases and dated snapshots) → US cross-region inference
profiles. Override or extend with `[proxy.models]`; other regions use their own prefix (`eu.`, `apac.`)."""

DEFAULT_BETA_ALLOW_LIST: tuple[str, ...] = (
    "interleaved-thinking-2025-05-14",
    "context-1m-2025-08-07",
    "fine-grained-tool-streaming-2025-05-14",
    "token-efficient-tools-2025-02-19",
    "output-128k-2025-02-19",
    "computer-use-2025-01-24",
    "computer-use-2025-11-24",
    "context-management-2025-06-27",
    "effort-2025-11-24",
    "tool-examples-2025-10-29",
)
"""`anthropic-beta` flags forwarded to Bedrock (as `anthropic_beta`); others are dropped (Bedrock
answers "invalid beta flag" to flags it does not know, such as the SDK's own code-execution betas)."""


class ProxySettings(BaseModel):
    """How `ptc-gateway proxy` serves the Anthropic Messages API over Bedrock."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    api_keys: list[str] = Field(default_factory=list)
    """Keys accepted in `x-api-key` or `Authorization: Bearer`; env `PTC_API_KEYS` (comma-separated).
    Empty: no key is required (refused unless the proxy binds loopback)."""
    models: dict[str, str] = Field(default_factory=dict)
    """Model names → Bedrock model or inference-profile ids, on top of `DEFAULT_MODEL_MAP`."""
    default_models: bool = True
    """Include `DEFAULT_MODEL_MAP`; `false` serves only `models` (and Bedrock ids passed through)."""
    beta_allow_list: list[str] = Field(default_factory=lambda: list(DEFAULT_BETA_ALLOW_LIST))
    container_idle_s: float = Field(default=270.0, gt=0)
    """How long a paused programmatic execution waits for the client's tool results before it is removed."""
    max_paused: int = Field(default=64, ge=1)
    """Paused executions held at once; beyond it new code executions are refused with 429."""
    container_secret: str | None = None
    """HMAC key of `container.id` handles; replicas that share it recognise each other's handles.
    Default: a random key per process (env `PTC_PROXY__CONTAINER_SECRET`)."""
    replica_id: str = Field(default="local", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    """Carried in every `container.id` so a load balancer can route a resume to the replica holding it."""
    settle_s: float = Field(default=0.05, gt=0, le=5)
    """After code calls a client tool, how long the proxy waits for further calls (one `asyncio.gather`)
    before it pauses the execution and answers with every pending call."""
    max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    """Largest request body accepted (413 beyond)."""
    ping_interval_s: float = Field(default=10.0, gt=0)
    """How often a streamed PTC request sends a `ping` event while code runs (keeps idle-timeout proxies quiet)."""
    max_turns: int = Field(default=16, ge=1)
    """Model turns one PTC request may take (code runs in between) before the proxy answers as it stands."""
    max_attempts: int = Field(default=1, ge=1)
    """botocore attempts per model call; 1 leaves retries to the SDK client (it retries 429 and 529)."""
    log_bodies: bool = False
    """Log request and response bodies at debug level (they may hold secrets and personal data)."""

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value
