"""The model seam and its Bedrock implementation.

Callers (the orchestrator, the CLI) see `BaseModelClient` and the records; only the composition
code builds a `BedrockModelClient`.
"""

from gateway.models._base import (
    BaseModelClient,
    ContentBlock,
    Message,
    ModelRequest,
    ModelResponse,
    Role,
    StopReason,
    TextBlock,
    TextSink,
    ToolDefinition,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)
from gateway.models._bedrock import BedrockModelClient
from gateway.models._families import ModelProfile, configured_profile, model_family, profile_for
from gateway.models._messages import ANTHROPIC_VERSION, BedrockMessagesClient

__all__ = [
    "ANTHROPIC_VERSION",
    "BaseModelClient",
    "BedrockMessagesClient",
    "BedrockModelClient",
    "ContentBlock",
    "Message",
    "ModelProfile",
    "ModelRequest",
    "ModelResponse",
    "Role",
    "StopReason",
    "TextBlock",
    "TextSink",
    "ToolDefinition",
    "ToolResultBlock",
    "ToolUseBlock",
    "Usage",
    "configured_profile",
    "model_family",
    "profile_for",
]
