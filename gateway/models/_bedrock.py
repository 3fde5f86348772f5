"""`BedrockModelClient`: Converse / ConverseStream / InvokeModel through boto3 `bedrock-runtime`.

Credentials, region and profile come from the standard boto3 chain (settings may name a profile
or region). botocore retries in adaptive mode (throttling is retried with backoff and client-side
rate limiting). Every boto3 call runs in a worker thread; botocore types and exceptions stop here:
`_model_error` is the one place they become `ModelError`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal, Protocol, TypeVar, cast

import anyio
import anyio.to_thread
import botocore.eventstream  # pyright: ignore[reportMissingTypeStubs]
import botocore.exceptions  # pyright: ignore[reportMissingTypeStubs]
import botocore.parsers  # pyright: ignore[reportMissingTypeStubs]
import urllib3.exceptions

from gateway.aws import BotoClientOptions, LazyBotoClient
from gateway.config import ModelSettings
from gateway.errors import ConfigError, ModelError
from gateway.models._base import BaseModelClient, ModelRequest, ModelResponse, TextSink
from gateway.models._families import ModelProfile, configured_profile, profile_for
from gateway.models._wire import (
    StreamAccumulator,
    anthropic_body,
    converse_kwargs,
    parse_anthropic_response,
    parse_converse_response,
)

__all__ = ["BedrockModelClient"]

Api = Literal["converse", "invoke"]
T = TypeVar("T")

_THROTTLING = frozenset({"ThrottlingException", "ServiceQuotaExceededException", "TooManyRequestsException"})
_TRANSIENT = frozenset(
    {"ModelTimeoutException", "ServiceUnavailableException", "InternalServerException", "ModelNotReadyException"}
)

_UNAVAILABLE = frozenset({"ServiceUnavailableException", "ModelNotReadyException"})

_BOTO_ERRORS = (
    botocore.exceptions.BotoCoreError,
    botocore.exceptions.ClientError,
    botocore.parsers.ResponseParserError,
    # Iterating a ConverseStream reads the raw urllib3 response: a dropped connection or a bad frame
    # surfaces as urllib3's or the event-stream decoder's own exception, not botocore's.
    urllib3.exceptions.HTTPError,
    botocore.eventstream.ParserError,
)


async def _in_thread(call: Callable[[], T]) -> T:
    """Run a blocking boto3 call in a worker thread.

    Cancellation (the run's timeout, Ctrl-C) returns at once: the abandoned HTTP call finishes in
    its thread (bounded by the read timeout) and its result is dropped.
    """
    return await anyio.to_thread.run_sync(call, abandon_on_cancel=True)


class _RuntimeClient(Protocol):
    """The slice of the boto3 `bedrock-runtime` client we use."""

    def converse(self, **kwargs: Any) -> dict[str, Any]: ...
    def converse_stream(self, **kwargs: Any) -> dict[str, Any]: ...
    def invoke_model(self, **kwargs: Any) -> dict[str, Any]: ...
    def close(self) -> None: ...


def _model_error(e: Exception, *, model_id: str, region: str | None, attempts: int) -> ModelError:
    """Turn any botocore failure into a `ModelError` whose message says what to do."""
    where = f"model {model_id!r}" + (f" in {region}" if region else "")
    if isinstance(e, botocore.exceptions.ClientError):
        response = cast(Mapping[str, Any], e.response)  # pyright: ignore[reportUnknownMemberType]
        error = cast(Mapping[str, Any], response.get("Error", {}))
        code = str(error.get("Code", "Unknown"))
        message = str(error.get("Message") or e)
        # Event-stream exceptions arrive with camel-case codes (`throttlingException`).
        code = code[:1].upper() + code[1:]
        if code in _THROTTLING:
            return ModelError(
                f"Bedrock throttled {where} and {attempts} attempts did not get through ({message}); "
                "slow down, raise the quota, or use a cross-region inference profile",
                retryable=True,
                kind="throttled",
            )
        if code == "ValidationException":
            return ModelError(f"Bedrock rejected the request to {where}: {message}", kind="invalid")
        if code == "AccessDeniedException":
            return ModelError(
                f"access denied to {where}: {message} (enable the model in the Bedrock console's model access page "
                "and allow bedrock:InvokeModel / bedrock:InvokeModelWithResponseStream for these credentials)",
                kind="denied",
            )
        if code == "ResourceNotFoundException":
            return ModelError(f"{where} was not found: {message} (check the model id and the region)", kind="not_found")
        if code in _TRANSIENT:
            return ModelError(
                f"Bedrock could not serve {where} right now ({code}): {message}",
                retryable=True,
                kind="unavailable" if code in _UNAVAILABLE else "other",
            )
        return ModelError(f"Bedrock error from {where} ({code}): {message}")
    if isinstance(e, botocore.exceptions.ParamValidationError):
        return ModelError(f"the request to {where} is invalid (caught before sending): {e}")
    if isinstance(e, botocore.parsers.ResponseParserError):
        return ModelError(f"could not parse Bedrock's reply for {where}: {e}")
    if isinstance(e, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError):
        return ModelError(
            "no AWS credentials found (boto3 looks at AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE and "
            "~/.aws, SSO, then the instance or task role)"
        )
    if isinstance(e, botocore.exceptions.NoRegionError):
        return ModelError(
            "no AWS region configured: set AWS_REGION (or AWS_DEFAULT_REGION, or a profile region) or [model] region"
        )
    if isinstance(e, botocore.exceptions.EndpointConnectionError | botocore.exceptions.ConnectionError):
        return ModelError(f"could not reach Bedrock for {where}: {e}", retryable=True)
    if isinstance(e, botocore.exceptions.ReadTimeoutError | botocore.exceptions.ConnectTimeoutError):
        return ModelError(f"Bedrock timed out for {where}: {e}", retryable=True)
    if isinstance(e, urllib3.exceptions.HTTPError | botocore.exceptions.ResponseStreamingError):
        return ModelError(f"the reply stream from {where} broke before it ended: {e}", retryable=True)
    if isinstance(e, botocore.eventstream.ParserError):
        return ModelError(f"could not decode the reply stream from {where}: {e}", retryable=True)
    return ModelError(f"Bedrock call for {where} failed: {e}")


class BedrockModelClient(BaseModelClient):
    """A Bedrock model through boto3. Cheap to construct; the boto3 client is built on first use."""

    def __init__(
        self,
        *,
        model_id: str,
        api: Api = "converse",
        region: str | None = None,
        profile: str | None = None,
        max_attempts: int = 8,
        read_timeout_s: float = 300.0,
        connect_timeout_s: float = 10.0,
        model_profile: ModelProfile | None = None,
    ) -> None:
        self._model_id = model_id
        self._api: Api = api
        self._region = region
        self._max_attempts = max_attempts
        self.profile = model_profile or profile_for(model_id)
        """What this model supports (tool use, cache points)."""
        if api == "invoke" and not self.profile.anthropic:
            raise ConfigError(
                f"api 'invoke' sends the Anthropic Messages body and needs a Claude model, not {model_id!r}",
                key="model.api",
            )
        # The endpoint comes from the chain too: AWS_ENDPOINT_URL_BEDROCK_RUNTIME / the profile.
        self._client = LazyBotoClient[_RuntimeClient](
            "bedrock-runtime",
            region=region,
            profile=profile,
            profile_key="model.profile",
            options=BotoClientOptions(
                max_attempts=max_attempts,
                retry_mode="adaptive",
                read_timeout_s=read_timeout_s,
                connect_timeout_s=connect_timeout_s,
            ),
            on_error=lambda e: _model_error(e, model_id=model_id, region=region, attempts=0),
        )

    @classmethod
    def from_settings(cls, settings: ModelSettings, *, model_id: str | None = None) -> BedrockModelClient:
        """Build from `[model]`; `model_id` (CLI / `PTC_MODEL_ID`) wins over `settings.id`."""
        chosen = model_id or settings.id
        return cls(
            model_id=chosen,
            api=settings.api,
            region=settings.region,
            profile=settings.profile,
            max_attempts=settings.max_attempts,
            read_timeout_s=settings.read_timeout_s,
            connect_timeout_s=settings.connect_timeout_s,
            model_profile=configured_profile(chosen, settings),
        )

    @property
    def model_id(self) -> str:
        """The Bedrock model id."""
        return self._model_id

    async def _runtime(self) -> _RuntimeClient:
        return await self._client.get()

    async def aclose(self) -> None:
        """Close the boto3 client's connection pool; the next request builds a new one."""
        await self._client.aclose()

    def _error(self, e: Exception) -> ModelError:
        return _model_error(e, model_id=self._model_id, region=self._region, attempts=self._max_attempts)

    async def request(self, request: ModelRequest) -> ModelResponse:
        """One Converse (or InvokeModel) call."""
        client = await self._runtime()
        try:
            match self._api:
                case "converse":
                    kwargs = converse_kwargs(request, model_id=self._model_id, profile=self.profile)
                    raw = await _in_thread(lambda: client.converse(**kwargs))
                    return parse_converse_response(raw)
                case "invoke":
                    body = json.dumps(anthropic_body(request, profile=self.profile))
                    raw = await _in_thread(
                        lambda: client.invoke_model(
                            modelId=self._model_id, body=body, contentType="application/json", accept="application/json"
                        )
                    )
                    payload = await _in_thread(lambda: raw["body"].read())
                    return parse_anthropic_response(cast(Mapping[str, Any], json.loads(payload)))
        except _BOTO_ERRORS as e:
            raise self._error(e) from e

    async def request_stream(self, request: ModelRequest, on_text: TextSink) -> ModelResponse:
        """ConverseStream, feeding text deltas to `on_text`; InvokeModel falls back to one piece."""
        if self._api != "converse":
            return await super().request_stream(request, on_text)
        client = await self._runtime()
        kwargs = converse_kwargs(request, model_id=self._model_id, profile=self.profile)
        accumulator = StreamAccumulator()
        try:
            raw = await _in_thread(lambda: client.converse_stream(**kwargs))
            events = iter(raw["stream"])

            def next_event(it: Iterator[Mapping[str, Any]] = events) -> Mapping[str, Any] | None:
                return next(it, None)

            while (event := await _in_thread(next_event)) is not None:
                if delta := accumulator.feed(event):
                    await on_text(delta)
        except _BOTO_ERRORS as e:
            raise self._error(e) from e
        return accumulator.response()
