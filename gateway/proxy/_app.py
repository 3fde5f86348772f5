"""The ASGI app: `/v1/messages`, `/v1/models`, `/healthz`, auth, request ids, Anthropic-shaped errors.

`open_proxy(gateway)` builds it with the task group that owns every code execution (so leaving
the context ends them all, sandboxes removed); `serve_proxy` runs it under uvicorn like `serve`.
"""

from __future__ import annotations

import hmac
import itertools
import json
import logging
import secrets
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Sequence,
)
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

import anyio
from anyio.abc import TaskGroup
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gateway.app import Gateway
from gateway.models import BedrockMessagesClient
from gateway.proxy._errors import ApiError
from gateway.proxy._executions import ExecutionStore
from gateway.proxy._handles import HandleCodec
from gateway.proxy._service import MessagesService
from gateway.proxy._wire import beta_flags, message_events, sse
from gateway.telemetry import ProxyTelemetry, RequestSpan

__all__ = ["ProxyApp", "open_proxy"]

logger = logging.getLogger(__name__)

FIRST_EVENT_WAIT_S = 1.0
"""How long a streamed PTC request may fail with an HTTP status before its stream starts."""
_CONTENT_EVENT = b"event: content_block_"
MAX_JSON_DEPTH = 128
"""Deepest nesting of arrays and objects a request body may have: every later step (the Bedrock body's
encoding, schema rendering) recurses over it, and deeper bodies raised RecursionError there."""
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxyApp:
    """The running proxy: the ASGI app and what it serves with (tests look at `store`)."""

    app: Starlette
    service: MessagesService
    store: ExecutionStore


def _request_id() -> str:
    return f"req_{secrets.token_hex(12)}"


class _MessageResponse(JSONResponse):
    """A message as JSON with non-ASCII escaped, as in SSE events (`sse`).

    A lone surrogate from the model travels as its escape instead of failing Starlette's UTF-8 encoding.
    """

    def render(self, content: Any) -> bytes:
        return json.dumps(content, allow_nan=False, separators=(",", ":")).encode("ascii")


def _error(e: ApiError, request_id: str) -> JSONResponse:
    return JSONResponse(e.body(request_id), status_code=e.status, headers={"request-id": request_id})


class _Auth:
    """`x-api-key` or `Authorization: Bearer`, compared in constant time with every configured key."""

    def __init__(self, keys: Sequence[str]) -> None:
        self._keys = [key.encode() for key in keys]

    def check(self, request: Request) -> None:
        if not self._keys:
            return
        given = request.headers.get("x-api-key")
        if given is None:
            authorization = request.headers.get("authorization", "")
            scheme, _, token = authorization.partition(" ")
            given = token.strip() if scheme.lower() == "bearer" else None
        if given is None:
            raise ApiError("authentication_error", "x-api-key header is required")
        candidate = given.encode()
        matched = False
        for key in self._keys:  # no early exit: the time does not say which key (or how much of one) matched
            matched |= hmac.compare_digest(candidate, key)
        if not matched:
            raise ApiError("authentication_error", "invalid x-api-key")


Handler = Callable[[Request, str, RequestSpan], Awaitable[Response]]


def _endpoint(
    handler: Handler, auth: _Auth | None, telemetry: ProxyTelemetry, route: str
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        request_id = _request_id()
        span = telemetry.request(request.method, route, request.headers)
        try:
            with telemetry.active(span):
                if auth is not None:
                    auth.check(request)
                response = await handler(request, request_id, span)
        except ApiError as e:
            span.finish(e.status, e.type)
            return _error(e, request_id)
        except BaseException:
            span.finish(500, "internal")
            raise
        response.headers["request-id"] = request_id
        if isinstance(response, StreamingResponse):
            response.body_iterator = _finish_after(response.body_iterator, span)
        else:
            span.finish(response.status_code)
        return response

    return endpoint


async def _finish_after(body: AsyncIterable[Any], span: RequestSpan) -> AsyncGenerator[Any]:
    """Pass a stream on; note its first content event and end the request span after its last."""
    error: str | None = "cancelled"
    try:
        async for chunk in body:
            if isinstance(chunk, bytes) and chunk.startswith(_CONTENT_EVENT):
                span.first_token()
            yield chunk
        error = None
    finally:
        span.finish(200, error)


async def _json_body(request: Request, limit: int) -> Any:
    declared = request.headers.get("content-length")
    # ASCII digits only, and few: `str.isdigit` accepts "²" and `int` refuses it, or over 4,300 digits.
    if (
        declared is not None
        and declared.isascii()
        and declared.isdigit()
        and (len(declared) > 18 or int(declared) > limit)
    ):
        raise ApiError("request_too_large", f"request body over {limit} bytes ([proxy] max_body_bytes)")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise ApiError("request_too_large", f"request body over {limit} bytes ([proxy] max_body_bytes)")
    too_deep = ApiError("invalid_request_error", f"the request body nests JSON deeper than {MAX_JSON_DEPTH} levels")
    try:
        body = json.loads(data, parse_constant=_reject_constant)
    except ValueError as e:
        raise ApiError("invalid_request_error", f"the request body is not valid JSON: {e}") from e
    except RecursionError:  # the parser recursed deeper than the interpreter allows
        raise too_deep from None
    if _nested_deeper(body, MAX_JSON_DEPTH):
        raise too_deep
    return body


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _nested_deeper(value: object, limit: int) -> bool:
    r"""Whether arrays and objects in `value` nest more than `limit` deep (walked without recursion).

    Strings are checked on the way: a lone surrogate (`"\ud800"`, which `json.loads` lets through) is
    a 400 as at Anthropic's API, rather than a failure to encode the response that echoes it.
    """
    stack: list[tuple[object, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        node, depth = stack.pop()
        children: Iterable[object] = (
            itertools.chain.from_iterable(cast(dict[str, object], node).items())
            if isinstance(node, dict)
            else cast(list[object], node)
        )
        for child in children:
            if isinstance(child, dict | list):
                if depth >= limit:
                    return True
                stack.append((cast(object, child), depth + 1))
            elif isinstance(child, str) and not child.isascii():
                _check_text(child)
    return False


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ApiError(
            "invalid_request_error", f"the request body is not valid JSON: a string holds a lone surrogate ({e.reason})"
        ) from None


class _Routes:
    def __init__(self, service: MessagesService, tg: TaskGroup) -> None:
        self.service = service
        self.tg = tg

    async def messages(self, request: Request, request_id: str, span: RequestSpan) -> Response:
        settings = self.service.settings
        body, model = self.service.resolve(await _json_body(request, settings.max_body_bytes))
        span.model = model.name
        if settings.log_bodies:
            logger.debug("request %s body: %s", request_id, json.dumps(body)[:100_000])
        betas = beta_flags(request.headers.get("anthropic-beta"), settings.beta_allow_list)
        if not body.get("stream", False):
            return _MessageResponse(await self.service.create(body, model, betas=betas))
        if self.service.is_ptc(body):
            return await self._ptc_stream(body, model, betas, request_id)
        events = self.service.stream(body, model, betas=betas)
        try:
            first = await anext(events)
        except StopAsyncIteration:
            raise ApiError("api_error", "the model's stream ended before it started") from None
        return StreamingResponse(
            _sse_body(first, events, request_id), media_type="text/event-stream", headers=SSE_HEADERS
        )

    async def _ptc_stream(self, body: dict[str, Any], model: Any, betas: list[str], request_id: str) -> Response:
        """Run the PTC request in the store's task group; stream its message, with pings while it runs."""
        run = self.service.ptc_begin(body, model, betas=betas, message_id=f"msg_{secrets.token_hex(12)}")
        done = anyio.Event()
        outcome: list[dict[str, Any] | ApiError] = []

        async def work() -> None:
            try:
                outcome.append(await run.run())
            except ApiError as e:
                outcome.append(e)
            except Exception:  # request boundary: the client gets an api_error, the log the traceback
                logger.exception("PTC request %s failed", request_id)
                outcome.append(ApiError("api_error", "internal error in the proxy"))
            finally:
                done.set()

        self.tg.start_soon(work, name=f"ptc request {request_id}")
        with anyio.move_on_after(min(FIRST_EVENT_WAIT_S, self.service.settings.ping_interval_s)):
            await done.wait()
        if done.is_set() and isinstance(outcome[0], ApiError):
            raise outcome[0]

        async def stream() -> AsyncIterator[bytes]:
            start: dict[str, Any] = {
                "id": run.message_id,
                "type": "message",
                "role": "assistant",
                "model": model.name,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 0, "output_tokens": 0},
            }
            yield sse({"type": "message_start", "message": start})
            while not done.is_set():
                with anyio.move_on_after(self.service.settings.ping_interval_s):
                    await done.wait()
                if not done.is_set():
                    yield sse({"type": "ping"})
            result = outcome[0]
            if isinstance(result, ApiError):
                yield sse({"type": "error", "error": {"type": result.type, "message": result.message}})
                return
            for event in message_events(result):
                if event["type"] != "message_start":
                    yield sse(event)

        return StreamingResponse(stream(), media_type="text/event-stream", headers=SSE_HEADERS)

    async def count_tokens(self, request: Request, request_id: str, span: RequestSpan) -> Response:
        settings = self.service.settings
        body, model = self.service.resolve(await _json_body(request, settings.max_body_bytes), count_only=True)
        betas = beta_flags(request.headers.get("anthropic-beta"), settings.beta_allow_list)
        return JSONResponse({"input_tokens": await self.service.count_tokens(body, model, betas=betas)})

    async def models(self, request: Request, request_id: str, span: RequestSpan) -> Response:
        names = sorted(self.service.models.names)
        data = [
            {"type": "model", "id": name, "display_name": name, "created_at": "1970-01-01T00:00:00Z"} for name in names
        ]
        return JSONResponse(
            {
                "data": data,
                "has_more": False,
                "first_id": names[0] if names else None,
                "last_id": names[-1] if names else None,
            }
        )

    async def health(self, request: Request, request_id: str, span: RequestSpan) -> Response:
        return JSONResponse({"status": "ok", "paused_executions": len(self.service.store)})


async def _sse_body(
    first: dict[str, Any], events: AsyncIterator[dict[str, Any]], request_id: str
) -> AsyncGenerator[bytes]:
    yield sse(first)
    try:
        async for event in events:
            yield sse(event)
    except ApiError as e:  # after the stream started, a failure is an `error` event
        yield sse({"type": "error", "error": {"type": e.type, "message": e.message}, "request_id": request_id})


async def _not_found(request: Request, exc: Exception) -> Response:
    request_id = _request_id()
    return _error(ApiError("not_found_error", f"no route {request.method} {request.url.path[:200]}"), request_id)


@asynccontextmanager
async def open_proxy(gateway: Gateway, *, client: BedrockMessagesClient | None = None) -> AsyncGenerator[ProxyApp]:
    """The proxy app over `gateway`; every execution it starts ends (sandbox removed) when the block exits."""
    settings = gateway.settings.proxy
    model = gateway.settings.model
    owned = client is None
    client = client or BedrockMessagesClient(
        region=model.region,
        profile=model.profile,
        max_attempts=settings.max_attempts,
        read_timeout_s=model.read_timeout_s,
        connect_timeout_s=model.connect_timeout_s,
    )
    secret = settings.container_secret.encode() if settings.container_secret else secrets.token_bytes(32)
    async with anyio.create_task_group() as tg:
        store = ExecutionStore(tg, max_paused=settings.max_paused)
        telemetry = ProxyTelemetry(gateway.telemetry, paused=lambda: len(store))
        service = MessagesService(
            gateway=gateway,
            settings=settings,
            client=client,
            store=store,
            codec=HandleCodec(secret),
            telemetry=telemetry,
        )
        routes = _Routes(service, tg)
        auth = _Auth(settings.api_keys)

        def route(path: str, handler: Handler, method: str, *, authenticated: bool = True) -> Route:
            return Route(path, _endpoint(handler, auth if authenticated else None, telemetry, path), methods=[method])

        app = Starlette(
            exception_handlers={404: _not_found, 405: _not_found},
            routes=[
                route("/v1/messages", routes.messages, "POST"),
                route("/v1/messages/count_tokens", routes.count_tokens, "POST"),
                route("/v1/models", routes.models, "GET"),
                route("/healthz", routes.health, "GET", authenticated=False),
            ],
        )
        try:
            yield ProxyApp(app=app, service=service, store=store)
        finally:
            tg.cancel_scope.cancel()
            if owned:
                with anyio.CancelScope(shield=True):
                    await client.aclose()
