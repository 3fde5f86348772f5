"""`[model]`: which Bedrock model the orchestrator (`ptc-gateway ask`) talks to, and how."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DEFAULT_MODEL_ID", "ModelSettings"]

DEFAULT_MODEL_ID = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


class ModelSettings(BaseModel):
    """The model and the orchestrator loop around it.

    Credentials come from the standard boto3 chain (environment, `~/.aws` profiles, SSO, instance
    or task role). `PTC_MODEL_ID` (or `ask --model`) overrides `id`.
    """

    model_config = ConfigDict(extra="forbid")

    id: str = DEFAULT_MODEL_ID
    """Bedrock model id or inference profile id/ARN."""
    api: Literal["converse", "invoke"] = "converse"
    """`converse`: model-agnostic Converse/ConverseStream. `invoke`: InvokeModel with the Anthropic
    Messages body (Claude models only)."""
    region: str | None = None
    """AWS region; default from the boto3 chain (`AWS_REGION`, the profile)."""
    profile: str | None = None
    """Named AWS profile; default from the boto3 chain (`AWS_PROFILE`)."""
    tool_use: bool | None = None
    """Force native tool use on/off; default per model family (off → fenced ```python blocks)."""
    cache_points: bool | None = None
    """Force Bedrock prompt-cache points on/off; default per model family."""
    max_tokens: int = Field(default=4096, ge=1)
    temperature: float | None = Field(default=None, ge=0)
    max_turns: int = Field(default=8, ge=1)
    """Model turns allowed in PTC mode before the run is stopped."""
    classic_max_turns: int = Field(default=100, ge=1)
    """Model turns allowed in classic mode (one tool call per turn is common)."""
    run_timeout_s: float = Field(default=600.0, gt=0)
    """Wall-clock cap on one whole run (all turns, all executions)."""
    tool_result_max_bytes: int = Field(default=20_000, ge=256)
    """Cap on one tool result (execute_code output, or a classic tool's result) sent to the model."""
    max_attempts: int = Field(default=8, ge=1)
    """botocore attempts per request (adaptive retry mode: throttling is retried with backoff)."""
    read_timeout_s: float = Field(default=300.0, gt=0)
    connect_timeout_s: float = Field(default=10.0, gt=0)
