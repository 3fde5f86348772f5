"""Test doubles that ship with the product, one per seam, for our tests and for users testing their own agents.

- `FunctionToolSource`: the tool-source seam (an MCP fleet) played by plain async functions; records calls.
- `FunctionModelClient`: the model seam played by a function over `gateway.models` records; records requests.
- `LocalProcessBackend`: the sandbox seam as a plain subprocess running the real runner. Fast, and **not a
  security boundary**: for tests only (also selectable as `[sandbox] backend = "local-process"`).

None of these is ever a default. Wire-level fakes that speak real provider protocols (the Bedrock
endpoint that boto3 talks to) live in `tests/`, next to the tests of the clients they exercise.
"""

from gateway.sandbox import LocalProcessBackend
from gateway.testing._function_model import (
    FunctionModelClient,
    ModelFunction,
    scripted_replies,
    text_reply,
    tool_use_reply,
)
from gateway.testing._function_source import CallHandler, FunctionToolSource, RecordedCall, ToolFunction, to_tool_result

__all__ = [
    "CallHandler",
    "FunctionModelClient",
    "FunctionToolSource",
    "LocalProcessBackend",
    "ModelFunction",
    "RecordedCall",
    "ToolFunction",
    "scripted_replies",
    "text_reply",
    "to_tool_result",
    "tool_use_reply",
]
