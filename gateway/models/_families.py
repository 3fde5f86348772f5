"""What a Bedrock model family supports, by model id prefix, with per-setting overrides.

Bedrock ids come bare (`anthropic.claude-3-5-haiku-20241022-v1:0`) or as cross-region inference
profiles with a geography prefix (`us.`, `eu.`, `apac.`, `global.`…); the prefix is ignored here.
The table is deliberately conservative: a family not listed gets the fenced-code path (works with
any text model) and no cache points (Bedrock rejects `cachePoint` for models without caching).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.config import ModelSettings

__all__ = ["ModelProfile", "model_family", "profile_for"]

_GEO_PREFIXES = ("us.", "us-gov.", "eu.", "apac.", "au.", "ca.", "jp.", "global.")


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelProfile:
    """Capabilities the orchestrator adapts to."""

    family: str
    tool_use: bool
    """Native tool use through Converse `toolConfig`; otherwise code comes in a fenced block."""
    cache_points: bool
    """Bedrock prompt caching (`cachePoint` blocks / Anthropic `cache_control`)."""
    anthropic: bool
    """The Anthropic Messages body works through InvokeModel."""


# (id prefix after the geography prefix, profile); first match wins, so specific before general.
_TABLE: tuple[tuple[str, ModelProfile], ...] = (
    ("anthropic.claude-instant", ModelProfile(family="anthropic", tool_use=False, cache_points=False, anthropic=True)),
    ("anthropic.claude-v2", ModelProfile(family="anthropic", tool_use=False, cache_points=False, anthropic=True)),
    ("anthropic.claude-3-haiku", ModelProfile(family="anthropic", tool_use=True, cache_points=False, anthropic=True)),
    ("anthropic.claude-3-sonnet", ModelProfile(family="anthropic", tool_use=True, cache_points=False, anthropic=True)),
    ("anthropic.claude-3-opus", ModelProfile(family="anthropic", tool_use=True, cache_points=False, anthropic=True)),
    ("anthropic.", ModelProfile(family="anthropic", tool_use=True, cache_points=True, anthropic=True)),
    ("amazon.nova", ModelProfile(family="nova", tool_use=True, cache_points=True, anthropic=False)),
    ("amazon.titan", ModelProfile(family="titan", tool_use=False, cache_points=False, anthropic=False)),
    ("meta.llama3-1", ModelProfile(family="llama", tool_use=True, cache_points=False, anthropic=False)),
    ("meta.llama3-2", ModelProfile(family="llama", tool_use=True, cache_points=False, anthropic=False)),
    ("meta.llama3-3", ModelProfile(family="llama", tool_use=True, cache_points=False, anthropic=False)),
    ("meta.llama4", ModelProfile(family="llama", tool_use=True, cache_points=False, anthropic=False)),
    ("meta.", ModelProfile(family="llama", tool_use=False, cache_points=False, anthropic=False)),
    ("mistral.mistral-large", ModelProfile(family="mistral", tool_use=True, cache_points=False, anthropic=False)),
    ("mistral.pixtral", ModelProfile(family="mistral", tool_use=True, cache_points=False, anthropic=False)),
    ("mistral.", ModelProfile(family="mistral", tool_use=False, cache_points=False, anthropic=False)),
    ("cohere.command-r", ModelProfile(family="cohere", tool_use=True, cache_points=False, anthropic=False)),
    ("deepseek.r1", ModelProfile(family="deepseek", tool_use=False, cache_points=False, anthropic=False)),
    ("deepseek.", ModelProfile(family="deepseek", tool_use=True, cache_points=False, anthropic=False)),
    ("qwen.", ModelProfile(family="qwen", tool_use=True, cache_points=False, anthropic=False)),
    ("openai.", ModelProfile(family="openai", tool_use=True, cache_points=False, anthropic=False)),
    ("minimax.", ModelProfile(family="minimax", tool_use=True, cache_points=False, anthropic=False)),
    ("moonshot", ModelProfile(family="kimi", tool_use=True, cache_points=False, anthropic=False)),
    ("zai.", ModelProfile(family="glm", tool_use=True, cache_points=False, anthropic=False)),
)

_UNKNOWN = ModelProfile(family="unknown", tool_use=False, cache_points=False, anthropic=False)


def _strip_geo(model_id: str) -> str:
    # An ARN (application inference profile, provisioned model) carries no family information.
    bare = model_id.rsplit("/", 1)[-1]
    for prefix in _GEO_PREFIXES:
        if bare.startswith(prefix):
            return bare[len(prefix) :]
    return bare


def model_family(model_id: str) -> str:
    """The family name of a model id (`anthropic`, `nova`, `llama`…, or `unknown`)."""
    return profile_for(model_id).family


def profile_for(model_id: str, *, tool_use: bool | None = None, cache_points: bool | None = None) -> ModelProfile:
    """The profile for a model id; explicit settings win over the family default."""
    bare = _strip_geo(model_id)
    profile = next((profile for prefix, profile in _TABLE if bare.startswith(prefix)), _UNKNOWN)
    if tool_use is not None:
        profile = replace(profile, tool_use=tool_use)
    if cache_points is not None:
        profile = replace(profile, cache_points=cache_points)
    return profile


def configured_profile(model_id: str, settings: ModelSettings) -> ModelProfile:
    """The profile for a model id with `[model] tool_use` / `cache_points` applied: the one place both meet."""
    return profile_for(model_id, tool_use=settings.tool_use, cache_points=settings.cache_points)
