"""`BedrockMessagesClient`: the Anthropic Messages body as it is, through InvokeModel(WithResponseStream).

The proxy (`gateway.proxy`) forwards what an Anthropic SDK sent, so it needs the body and the
stream events untouched rather than our `ModelRequest` records (which keep only text and tool
blocks). Same boto3 chain, same worker-thread rule and the same error mapping as
`BedrockModelClient`: botocore types stop here.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, Protocol, cast

import anyio
import anyio.to_thread

from gateway.aws import BotoClientOptions, LazyBotoClient
from gateway.errors import ModelError
from gateway.models._bedrock import _BOTO_ERRORS, _model_error  # pyright: ignore[reportPrivateUsage]
from gateway.models._wire import ANTHROPIC_VERSION
from gateway.tools import JsonObject

__all__ = ["ANTHROPIC_VERSION", "BedrockMessagesClient"]

MAX_EVENT_BYTES = 4 * 1024 * 1024
"""Largest stream event accepted from the endpoint (one content delta is far smaller)."""


class _InvokeClient(Protocol):
    def converse(self, **kwargs: Any) -> dict[str, Any]: ...
    def count_tokens(self, **kwargs: Any) -> dict[str, Any]: ...
    def invoke_model(self, **kwargs: Any) -> dict[str, Any]: ...
    def invoke_model_with_response_stream(self, **kwargs: Any) -> dict[str, Any]: ...
    def close(self) -> None: ...


class BedrockMessagesClient:
    """Anthropic Messages bodies to any Claude model or inference profile on Bedrock.

    One client serves every model id (the id is per call). `max_attempts` defaults to 1: the
    proxy's own caller (an Anthropic SDK) retries 429 and 529 itself, and two retry loops stacked
    multiply the wait.
    """

    def __init__(
        self,
        *,
        region: str | None = None,
        profile: str | None = None,
        max_attempts: int = 1,
        read_timeout_s: float = 300.0,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self._region = region
        self._max_attempts = max_attempts
        self._client = LazyBotoClient[_InvokeClient](
            "bedrock-runtime",
            region=region,
            profile=profile,
            profile_key="model.profile",
            options=BotoClientOptions(
                max_attempts=max_attempts,
                read_timeout_s=read_timeout_s,
                connect_timeout_s=connect_timeout_s,
                max_pool_connections=64,
            ),
            on_error=lambda e: _model_error(e, model_id="(any)", region=region, attempts=0),
        )

    async def aclose(self) -> None:
        """Close the boto3 client's connection pool; the client is rebuilt on next use."""
        await self._client.aclose()

    async def _runtime(self) -> _InvokeClient:
        return await self._client.get()

    async def invoke(self, model_id: str, body: Mapping[str, Any]) -> JsonObject:
        """One InvokeModel call; the parsed Anthropic response body."""
        client = await self._runtime()
        data = json.dumps(body)
        try:

            def call() -> bytes:
                raw = client.invoke_model(
                    modelId=model_id, body=data, contentType="application/json", accept="application/json"
                )
                return cast(bytes, raw["body"].read())

            payload = await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
        except _BOTO_ERRORS as e:
            raise _model_error(e, model_id=model_id, region=self._region, attempts=self._max_attempts) from e
        try:
            parsed = json.loads(payload)
        except ValueError as e:
            raise ModelError(f"model {model_id!r} answered with a body that is not JSON") from e
        if not isinstance(parsed, dict):
            raise ModelError(f"model {model_id!r} answered with a body that is not a JSON object")
        return cast(JsonObject, parsed)

    async def converse(self, model_id: str, request: Mapping[str, Any]) -> dict[str, Any]:
        """One Converse call (`request`: its keyword arguments but `modelId`); the raw response."""
        client = await self._runtime()
        try:
            return await anyio.to_thread.run_sync(
                lambda: client.converse(modelId=model_id, **request), abandon_on_cancel=True
            )
        except _BOTO_ERRORS as e:
            raise _model_error(e, model_id=model_id, region=self._region, attempts=self._max_attempts) from e

    async def count_tokens(self, model_id: str, body: Mapping[str, Any], *, converse: bool = False) -> int:
        """CountTokens for an InvokeModel body (or, `converse`, for Converse arguments: messages, system, toolConfig).

        CountTokens takes a foundation-model id, not an inference profile: a cross-region prefix
        (`us.`, `eu.`, `apac.`, `global.`…) is dropped.
        """
        client = await self._runtime()
        foundation = _foundation_model(model_id)
        if converse:
            counted: dict[str, Any] = {
                "converse": {k: body[k] for k in ("messages", "system", "toolConfig") if k in body}
            }
        else:
            counted = {"invokeModel": {"body": json.dumps(body).encode()}}
        try:
            raw = await anyio.to_thread.run_sync(
                lambda: client.count_tokens(modelId=foundation, input=counted),
                abandon_on_cancel=True,
            )
        except _BOTO_ERRORS as e:
            raise _model_error(e, model_id=foundation, region=self._region, attempts=self._max_attempts) from e
        tokens = raw.get("inputTokens")
        if not isinstance(tokens, int) or tokens < 0:
            raise ModelError(f"CountTokens for {foundation!r} answered without a token count")
        return tokens

    async def invoke_stream(self, model_id: str, body: Mapping[str, Any]) -> AsyncIterator[JsonObject]:
        """InvokeModelWithResponseStream: the Anthropic stream events (`message_start`, …) as they arrive.

        Raises `ModelError` before the first event (the request failed) or between events (the
        stream broke, or the endpoint sent an exception event).
        """
        client = await self._runtime()
        data = json.dumps(body)
        try:
            raw = await anyio.to_thread.run_sync(
                lambda: client.invoke_model_with_response_stream(
                    modelId=model_id, body=data, contentType="application/json", accept="application/json"
                ),
                abandon_on_cancel=True,
            )
        except _BOTO_ERRORS as e:
            raise _model_error(e, model_id=model_id, region=self._region, attempts=self._max_attempts) from e
        stream = raw["body"]
        events: Iterator[Mapping[str, Any]] = iter(stream)

        def next_event() -> Mapping[str, Any] | None:
            return next(events, None)

        try:
            while True:
                try:
                    event = await anyio.to_thread.run_sync(next_event, abandon_on_cancel=True)
                except _BOTO_ERRORS as e:
                    raise _model_error(e, model_id=model_id, region=self._region, attempts=self._max_attempts) from e
                if event is None:
                    return
                yield _chunk_event(event, model_id)
        finally:
            # A stream left early (an exception event, a broken stream, a consumer that stopped, cancellation)
            # still holds its connection: close it, or the socket leaks until garbage collection.
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(stream.close)


def _foundation_model(model_id: str) -> str:
    head, dot, rest = model_id.partition(".")
    if dot and len(head) <= 6 and head.isalpha() and head.islower() and "." in rest:
        return rest  # us.anthropic.claude-… → anthropic.claude-…
    return model_id


def _chunk_event(event: Mapping[str, Any], model_id: str) -> JsonObject:
    """The Anthropic event inside one `chunk` (`{"bytes": <json>}`), or a `ModelError` for an exception event."""
    chunk = event.get("chunk")
    if not isinstance(chunk, Mapping):
        name = next(iter(event), "unknown")
        message = str(cast(Mapping[str, Any], event.get(name) or {}).get("message", ""))[:500]
        kind = "throttled" if name.lower().startswith("throttling") else "unavailable"
        raise ModelError(f"the stream from model {model_id!r} failed ({name}): {message}", kind=kind)
    payload = cast(Mapping[str, Any], chunk).get("bytes")
    if isinstance(payload, str):  # some decoders leave the blob base64-encoded
        payload = base64.b64decode(payload)
    if not isinstance(payload, bytes | bytearray) or len(payload) > MAX_EVENT_BYTES:
        raise ModelError(f"the stream from model {model_id!r} sent a bad chunk")
    try:
        parsed = json.loads(payload)
    except ValueError as e:
        raise ModelError(f"the stream from model {model_id!r} sent a chunk that is not JSON") from e
    if not isinstance(parsed, dict) or not isinstance(cast(JsonObject, parsed).get("type"), str):
        raise ModelError(f"the stream from model {model_id!r} sent a chunk without a type")
    return cast(JsonObject, parsed)
