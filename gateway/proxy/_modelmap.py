"""Model names an Anthropic SDK sends → the Bedrock model or inference-profile id to call."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.config import DEFAULT_MODEL_MAP, ProxySettings
from gateway.proxy._errors import ApiError

__all__ = ["ModelMap", "ResolvedModel"]

_BEDROCK_ID = re.compile(r"^(?:arn:aws[a-z-]*:bedrock:|(?:[a-z]{2,4}\.)?[a-z0-9-]+\.[A-Za-z0-9._:-]+$)")
"""A Bedrock id (`anthropic.claude-…-v1:0`, `us.anthropic.…`, `amazon.nova-pro-v1:0`) or an ARN."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolvedModel:
    """Which Bedrock model serves a request, and through which API."""

    name: str
    """The name the client sent (echoed in responses)."""
    bedrock_id: str
    anthropic: bool
    """A Claude model: the Anthropic body goes through InvokeModel; others need Converse."""


class ModelMap:
    """The configured names; a Bedrock id or ARN passes through unchanged."""

    def __init__(self, names: Mapping[str, str]) -> None:
        self.names = dict(names)

    @classmethod
    def from_settings(cls, settings: ProxySettings) -> ModelMap:
        """`DEFAULT_MODEL_MAP` (unless switched off) overlaid with `[proxy.models]`."""
        return cls({**(DEFAULT_MODEL_MAP if settings.default_models else {}), **settings.models})

    def resolve(self, name: object) -> ResolvedModel:
        """The model for `name`; 404 `not_found_error` listing the known names when there is none."""
        if not isinstance(name, str) or not name:
            raise ApiError("invalid_request_error", "model: a model name is required")
        name = name[:256]
        bedrock_id = self.names.get(name)
        if bedrock_id is None and _BEDROCK_ID.match(name):
            bedrock_id = name
        if bedrock_id is None:
            known = ", ".join(sorted(self.names)) or "(none configured)"
            raise ApiError(
                "not_found_error",
                f"model: {name!r} is not a known model name (known: {known}); a Bedrock model or "
                "inference-profile id is accepted as it is, and [proxy.models] adds names",
            )
        return ResolvedModel(name=name, bedrock_id=bedrock_id, anthropic="anthropic." in bedrock_id)
