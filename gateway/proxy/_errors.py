"""Anthropic-shaped errors: `{"type": "error", "error": {"type", "message"}, "request_id"}` with the SDK's statuses."""

from __future__ import annotations

from typing import Literal, assert_never

from gateway.errors import ModelError

__all__ = ["ApiError", "ErrorType", "from_model_error"]

ErrorType = Literal[
    "invalid_request_error",
    "authentication_error",
    "permission_error",
    "not_found_error",
    "request_too_large",
    "rate_limit_error",
    "api_error",
    "overloaded_error",
]

STATUS: dict[ErrorType, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


class ApiError(Exception):
    """A failure the client gets as an Anthropic error body (and, mid-stream, as an `error` event)."""

    def __init__(self, type: ErrorType, message: str) -> None:  # noqa: A002 - the wire field's name
        self.type: ErrorType = type
        self.message = message
        super().__init__(message)

    @property
    def status(self) -> int:
        """The HTTP status the SDK maps to this error type."""
        return STATUS[self.type]

    def body(self, request_id: str) -> dict[str, object]:
        """The JSON error body."""
        return {"type": "error", "error": {"type": self.type, "message": self.message}, "request_id": request_id}


def from_model_error(e: ModelError) -> ApiError:
    """Bedrock's failure as the status an Anthropic SDK expects (429 and 529 are retried by the SDK)."""
    match e.kind:
        case "throttled":
            return ApiError("rate_limit_error", str(e))
        case "unavailable":
            return ApiError("overloaded_error", str(e))
        case "invalid":
            return ApiError("invalid_request_error", str(e))
        case "denied":
            return ApiError("permission_error", str(e))
        case "not_found":
            return ApiError("not_found_error", str(e))
        case "other":
            return ApiError("api_error", str(e))
        case _:  # pragma: no cover - exhaustive
            assert_never(e.kind)
