"""A local Bedrock-compatible HTTP endpoint driven by a scripted model.

It speaks the real `bedrock-runtime` wire formats so boto3 runs for real (SigV4 signing, rest-json
serialisation, error parsing, retries, event-stream decoding):

- `POST /model/{id}/converse`         Converse JSON in and out
- `POST /model/{id}/converse-stream`  Converse JSON in, AWS event-stream binary frames out (chunked)
- `POST /model/{id}/invoke`           the Anthropic Messages body in and out (Claude ids only)
- `POST /model/{id}/invoke-with-response-stream`  the Anthropic body in; `chunk` events, each holding
                                      one Anthropic stream event (`message_start` … `message_stop`)

Like Bedrock, the Anthropic body is checked strictly: unknown top-level keys, `caller` on a
`tool_use` block ("Extra inputs are not permitted") and beta flags it does not know ("invalid
beta flag") are refused with a ValidationException.

Every request is normalised into a `Turn` (system text, messages, tools — the same view whatever
the API) and handed to a *scripted model*: a plain function `Turn -> Reply`, in the spirit of
pydantic-ai's `FunctionModel`. Token usage is estimated at 4 characters per token over the request
as the model sees it (system + messages + tool definitions); prompt caching is simulated when the
request carries a cache point. `throttle(n)` makes the next `n` requests fail with HTTP 429
`ThrottlingException`. Point boto3 at it with `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` (`env()`).

moto's `bedrockruntime` (installed system-wide) only answers InvokeModel with a canned body: no
Converse, no ConverseStream, no scripting, hence this.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import socket
import threading
import urllib.parse
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, cast

from tests.bedrock.eventstream import encode_event, encode_exception

__all__ = ["Endpoint", "Reply", "ScriptedModel", "ToolCall", "Turn", "run_endpoint"]

Api = Literal["converse", "converse-stream", "invoke", "invoke-with-response-stream", "count-tokens"]
_ROUTE = re.compile(
    r"^/model/(?P<model>[^/]+)/(?P<api>converse|converse-stream|invoke|invoke-with-response-stream|count-tokens)$"
)
ANTHROPIC_BODY_KEYS = frozenset(
    {"anthropic_version", "anthropic_beta", "max_tokens", "messages", "system", "temperature", "top_p", "top_k"}
    | {"stop_sequences", "tools", "tool_choice", "thinking"}
)
KNOWN_BETAS = frozenset(
    {"interleaved-thinking-2025-05-14", "context-1m-2025-08-07", "token-efficient-tools-2025-02-19"}
)
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
CHARS_PER_TOKEN = 4
_CUT = "<cut the connection>"


@dataclass
class ToolCall:
    """The scripted model asks for a tool call."""

    name: str
    input: dict[str, Any]
    id: str | None = None


@dataclass
class Reply:
    """What the scripted model answers."""

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list[ToolCall])


@dataclass
class Turn:
    """One request as the model sees it, whatever the API."""

    api: Api
    model_id: str
    system: str
    messages: list[dict[str, Any]]
    """`{"role", "content": [{"type": "text"|"tool_use"|"tool_result", ...}]}`."""
    tools: list[dict[str, Any]]
    """`{"name", "description", "input_schema"}`."""
    cache_point: bool
    raw: dict[str, Any]

    @property
    def index(self) -> int:
        """0 for the first model turn of a conversation, 1 for the next…"""
        return sum(1 for m in self.messages if m["role"] == "assistant")

    @property
    def last(self) -> dict[str, Any]:
        """The last message (always the user's)."""
        return self.messages[-1]

    def tool_results(self) -> list[dict[str, Any]]:
        """The tool results in the last user message."""
        return [b for b in self.last["content"] if b["type"] == "tool_result"]

    def last_text(self) -> str:
        """Text of the last user message (fenced-code path results come back as text)."""
        return "".join(b["text"] for b in self.last["content"] if b["type"] == "text")

    def question(self) -> str:
        """The first user message's text."""
        return "".join(b["text"] for b in self.messages[0]["content"] if b["type"] == "text")


ScriptedModel = Callable[[Turn], Reply]


class ValidationError(Exception):
    """The request is malformed the way Bedrock would say so."""


def _converse_turn(api: Api, model_id: str, body: dict[str, Any]) -> Turn:
    system_blocks = body.get("system", [])
    system = "".join(b.get("text", "") for b in system_blocks)
    cache = any("cachePoint" in b for b in system_blocks)
    tools: list[dict[str, Any]] = []
    for entry in body.get("toolConfig", {}).get("tools", []):
        if "cachePoint" in entry:
            cache = True
            continue
        spec = entry["toolSpec"]
        if not _TOOL_NAME.match(spec["name"]):
            raise ValidationError(f"tool name {spec['name']!r} must match [a-zA-Z0-9_-]{{1,64}}")
        tools.append(
            {
                "name": spec["name"],
                "description": spec.get("description", ""),
                "input_schema": spec["inputSchema"]["json"],
            }
        )
    messages: list[dict[str, Any]] = []
    for i, message in enumerate(body.get("messages", [])):
        expected = "user" if i % 2 == 0 else "assistant"
        if message["role"] != expected:
            raise ValidationError("messages must alternate, starting with user")
        content: list[dict[str, Any]] = []
        for block in message["content"]:
            if "text" in block:
                if not block["text"]:
                    raise ValidationError("text content blocks must be non-empty")
                content.append({"type": "text", "text": block["text"]})
            elif "toolUse" in block:
                use = block["toolUse"]
                content.append({"type": "tool_use", "id": use["toolUseId"], "name": use["name"], "input": use["input"]})
            elif "toolResult" in block:
                if not tools:
                    raise ValidationError("toolResult blocks need a toolConfig")
                result = block["toolResult"]
                text = "".join(c.get("text", json.dumps(c.get("json"))) for c in result["content"])
                content.append(
                    {
                        "type": "tool_result",
                        "tool_use_id": result["toolUseId"],
                        "text": text,
                        "is_error": result.get("status") == "error",
                    }
                )
            elif "cachePoint" in block:
                cache = True
        if not content:
            raise ValidationError("message content must not be empty")
        messages.append({"role": message["role"], "content": content})
    if not messages or messages[-1]["role"] != "user":
        raise ValidationError("the conversation must end with a user message")
    return Turn(api=api, model_id=model_id, system=system, messages=messages, tools=tools, cache_point=cache, raw=body)


def _anthropic_turn(model_id: str, body: dict[str, Any], api: Api = "invoke") -> Turn:
    if body.get("anthropic_version") != "bedrock-2023-05-31":
        raise ValidationError("anthropic_version must be bedrock-2023-05-31")
    extra = sorted(set(body) - ANTHROPIC_BODY_KEYS)
    if extra:
        raise ValidationError(f"extraneous key [{extra[0]}] is not permitted")
    for flag in body.get("anthropic_beta", []):
        if flag not in KNOWN_BETAS:
            raise ValidationError(f"invalid beta flag {flag}")
    if "anthropic." not in model_id:
        raise ValidationError(f"model {model_id} does not accept the Anthropic Messages body")
    system_raw = body.get("system", "")
    system_blocks = [{"text": system_raw}] if isinstance(system_raw, str) else system_raw
    system = "".join(b.get("text", "") for b in system_blocks)
    cache = any("cache_control" in b for b in system_blocks)
    tools: list[dict[str, Any]] = []
    for tool in body.get("tools", []):
        cache = cache or "cache_control" in tool
        tools.append(
            {"name": tool["name"], "description": tool.get("description", ""), "input_schema": tool["input_schema"]}
        )
    messages: list[dict[str, Any]] = []
    for i, message in enumerate(body["messages"]):
        if message["role"] != ("user" if i % 2 == 0 else "assistant"):
            raise ValidationError("messages: roles must alternate between user and assistant, starting with user")
        if not message["content"]:
            raise ValidationError(f"messages.{i}: content must not be empty")
        content: list[dict[str, Any]] = []
        raw_content = message["content"]
        blocks = [{"type": "text", "text": raw_content}] if isinstance(raw_content, str) else raw_content
        for block in blocks:
            match block["type"]:
                case "text":
                    content.append({"type": "text", "text": block["text"]})
                case "tool_use":
                    if "caller" in block:
                        raise ValidationError("messages.content.tool_use.caller: Extra inputs are not permitted")
                    content.append(
                        {"type": "tool_use", "id": block["id"], "name": block["name"], "input": block["input"]}
                    )
                case "tool_result":
                    inner = block.get("content", "")
                    text = inner if isinstance(inner, str) else "".join(c.get("text", "") for c in inner)
                    content.append(
                        {
                            "type": "tool_result",
                            "tool_use_id": block["tool_use_id"],
                            "text": text,
                            "is_error": bool(block.get("is_error")),
                        }
                    )
                case other:
                    raise ValidationError(f"unsupported content type {other}")
        messages.append({"role": message["role"], "content": content})
    for i in range(1, len(messages)):
        uses = {b["id"] for b in messages[i - 1]["content"] if b["type"] == "tool_use"}
        results = {b["tool_use_id"] for b in messages[i]["content"] if b["type"] == "tool_result"}
        if messages[i]["role"] == "user" and uses != results:
            raise ValidationError(
                f"messages.{i}: tool_result blocks must answer exactly the tool_use ids of the previous message"
            )
    return Turn(api=api, model_id=model_id, system=system, messages=messages, tools=tools, cache_point=cache, raw=body)


@dataclass
class Endpoint:
    """The running endpoint: its URL, the requests it saw, knobs for the next requests."""

    model: ScriptedModel
    url: str = ""
    turns: list[Turn] = field(default_factory=list[Turn])
    counted: list[Turn] = field(default_factory=list[Turn])
    """The requests CountTokens was asked about (the model is not called for them)."""
    authorizations: list[str] = field(default_factory=list[str])
    throttled: int = 0
    model_errors: list[Exception] = field(default_factory=list[Exception])
    """What the scripted model raised (each answered with a 400 `ScriptedModelFailure`, never retried)."""
    _throttle_next: int = 0
    _unavailable_next: int = 0
    _stream_error: str | None = None
    _stream_patch: dict[str, dict[str, Any]] = field(default_factory=dict[str, dict[str, Any]])
    _cached: set[str] = field(default_factory=set[str])
    _counter: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def throttle(self, count: int) -> None:
        """Answer the next `count` requests with HTTP 429 ThrottlingException."""
        with self._lock:
            self._throttle_next = count

    def fail_next_stream(self, exception_type: str) -> None:
        """Break the next ConverseStream or InvokeModelWithResponseStream after its first event (exception event)."""
        with self._lock:
            self._stream_error = exception_type

    def cut_next_stream(self) -> None:
        """Drop the connection of the next ConverseStream after `messageStart`, mid-chunk."""
        with self._lock:
            self._stream_error = _CUT

    def patch_next_stream(self, patches: dict[str, dict[str, Any]]) -> None:
        """Overlay fields on events of the next InvokeModelWithResponseStream, by event type (malformed events)."""
        with self._lock:
            self._stream_patch = patches

    def take_stream_patch(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            patches, self._stream_patch = self._stream_patch, {}
            return patches

    def take_stream_error(self) -> str | None:
        with self._lock:
            error, self._stream_error = self._stream_error, None
            return error

    def env(self) -> dict[str, str]:
        """Environment that points boto3 here with fake static credentials and no profile files."""
        return {
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": self.url,
            "AWS_ACCESS_KEY_ID": "AKIDEXAMPLEFAKE",
            "AWS_SECRET_ACCESS_KEY": "fake-secret-key",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/nonexistent/aws-config",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def unavailable(self, count: int) -> None:
        """Answer the next `count` requests with HTTP 503 ServiceUnavailableException."""
        with self._lock:
            self._unavailable_next = count

    def take_unavailable(self) -> bool:
        with self._lock:
            if self._unavailable_next > 0:
                self._unavailable_next -= 1
                return True
            return False

    def take_throttle(self) -> bool:
        """Whether this request is one of the throttled ones (counts it)."""
        with self._lock:
            if self._throttle_next > 0:
                self._throttle_next -= 1
                self.throttled += 1
                return True
            return False

    def _next_id(self) -> str:
        with self._lock:
            self._counter += 1
            return f"tooluse_{self._counter:06d}"

    def _usage(self, turn: Turn, reply: Reply) -> dict[str, int]:
        prefix = turn.system + json.dumps(turn.tools, sort_keys=True)
        rest = json.dumps(turn.messages)
        prefix_tokens = math.ceil(len(prefix) / CHARS_PER_TOKEN)
        total = prefix_tokens + math.ceil(len(rest) / CHARS_PER_TOKEN)
        output = math.ceil((len(reply.text) + len(json.dumps([c.input for c in reply.tool_calls]))) / CHARS_PER_TOKEN)
        read = write = 0
        if turn.cache_point:
            key = hashlib.sha256(f"{turn.model_id}\0{prefix}".encode()).hexdigest()
            with self._lock:
                if key in self._cached:
                    read = prefix_tokens
                else:
                    self._cached.add(key)
                    write = prefix_tokens
        return {
            "inputTokens": total - read - write,
            "outputTokens": output,
            "totalTokens": total + output,
            "cacheReadInputTokens": read,
            "cacheWriteInputTokens": write,
        }

    def answer(self, turn: Turn) -> tuple[Reply, list[ToolCall], dict[str, int]]:
        """Run the scripted model; give tool calls ids."""
        with self._lock:
            self.turns.append(turn)
        reply = self.model(turn)
        calls = [ToolCall(name=c.name, input=c.input, id=c.id or self._next_id()) for c in reply.tool_calls]
        return reply, calls, self._usage(turn, reply)


def _converse_body(reply: Reply, calls: list[ToolCall], usage: dict[str, int]) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if reply.text:
        content.append({"text": reply.text})
    content += [{"toolUse": {"toolUseId": c.id, "name": c.name, "input": c.input}} for c in calls]
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": "tool_use" if calls else "end_turn",
        "usage": usage,
        "metrics": {"latencyMs": 1},
    }


def _stream_events(reply: Reply, calls: list[ToolCall], usage: dict[str, int]) -> Iterator[bytes]:
    yield encode_event("messageStart", {"role": "assistant"})
    index = 0
    if reply.text:
        # Like Bedrock: no contentBlockStart for text. Split on spaces so the client assembles pieces.
        words = reply.text.split(" ")
        for i, word in enumerate(words):
            piece = word if i == len(words) - 1 else word + " "
            if piece:
                yield encode_event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"text": piece}})
        yield encode_event("contentBlockStop", {"contentBlockIndex": index})
        index += 1
    for call in calls:
        yield encode_event(
            "contentBlockStart",
            {"contentBlockIndex": index, "start": {"toolUse": {"toolUseId": call.id, "name": call.name}}},
        )
        raw = json.dumps(call.input)
        for start in range(0, len(raw), 40):
            yield encode_event(
                "contentBlockDelta",
                {"contentBlockIndex": index, "delta": {"toolUse": {"input": raw[start : start + 40]}}},
            )
        yield encode_event("contentBlockStop", {"contentBlockIndex": index})
        index += 1
    yield encode_event("messageStop", {"stopReason": "tool_use" if calls else "end_turn"})
    yield encode_event("metadata", {"usage": usage, "metrics": {"latencyMs": 1}})


def _anthropic_response(model_id: str, reply: Reply, calls: list[ToolCall], usage: dict[str, int]) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if reply.text:
        content.append({"type": "text", "text": reply.text})
    content += [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.input} for c in calls]
    return {
        "id": "msg_bdrk_local",
        "type": "message",
        "role": "assistant",
        "model": model_id,
        "content": content,
        "stop_reason": "tool_use" if calls else "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": usage["inputTokens"],
            "output_tokens": usage["outputTokens"],
            "cache_read_input_tokens": usage["cacheReadInputTokens"],
            "cache_creation_input_tokens": usage["cacheWriteInputTokens"],
        },
    }


def _anthropic_stream(
    model_id: str, reply: Reply, calls: list[ToolCall], usage: dict[str, int]
) -> Iterator[dict[str, Any]]:
    """The Anthropic stream events of one reply, as Bedrock wraps them in `chunk` events."""
    whole = _anthropic_response(model_id, reply, calls, usage)
    yield {
        "type": "message_start",
        "message": {**whole, "content": [], "stop_reason": None, "usage": {**whole["usage"], "output_tokens": 1}},
    }
    for index, block in enumerate(whole["content"]):
        if block["type"] == "text":
            yield {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}
            words = block["text"].split(" ")
            for i, word in enumerate(words):
                piece = word if i == len(words) - 1 else word + " "
                if piece:
                    yield {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "text_delta", "text": piece},
                    }
        else:
            yield {"type": "content_block_start", "index": index, "content_block": {**block, "input": {}}}
            raw = json.dumps(block["input"])
            for start in range(0, len(raw), 40):
                delta = {"type": "input_json_delta", "partial_json": raw[start : start + 40]}
                yield {"type": "content_block_delta", "index": index, "delta": delta}
        yield {"type": "content_block_stop", "index": index}
    yield {
        "type": "message_delta",
        "delta": {"stop_reason": whole["stop_reason"], "stop_sequence": None},
        "usage": {"output_tokens": whole["usage"]["output_tokens"]},
    }
    yield {"type": "message_stop", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 1, "outputTokenCount": 1}}


def _handler(endpoint: Endpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body are separate writes: with Nagle on, the body waits ~40 ms for the
        # client's delayed ACK, as no real endpoint makes anyone wait.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass

        def _json(self, status: int, payload: dict[str, Any], error_type: str | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if error_type:
                self.send_header(
                    "x-amzn-ErrorType", f"{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/"
                )
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            route = _ROUTE.match(urllib.parse.urlsplit(self.path).path)
            if route is None:
                self._json(404, {"message": f"no route {self.path}"}, "UnknownOperationException")
                return
            model_id = urllib.parse.unquote(route["model"])
            api = cast(Api, route["api"])
            auth = self.headers.get("Authorization", "")
            endpoint.authorizations.append(auth)
            if not auth.startswith("AWS4-HMAC-SHA256 Credential=") or "/bedrock/aws4_request" not in auth:
                self._json(403, {"message": "missing or malformed SigV4 signature"}, "AccessDeniedException")
                return
            if endpoint.take_throttle():
                self._json(
                    429, {"message": "Too many requests, please wait before trying again."}, "ThrottlingException"
                )
                return
            if endpoint.take_unavailable():
                self._json(
                    503, {"message": "Bedrock is unable to process your request."}, "ServiceUnavailableException"
                )
                return
            if api == "count-tokens":
                try:
                    if re.match(r"^[a-z]{2,6}\.[a-z]+\.", model_id):
                        raise ValidationError("The provided model identifier is invalid (CountTokens takes a model id)")
                    counted_input = json.loads(raw)["input"]
                    if "converse" in counted_input:
                        counted = _converse_turn("converse", model_id, counted_input["converse"])
                    else:
                        inner = json.loads(base64.b64decode(counted_input["invokeModel"]["body"]))
                        counted = _anthropic_turn(model_id, inner)
                except (ValidationError, KeyError, TypeError, ValueError) as e:
                    self._json(400, {"message": f"Malformed input request: {e}"}, "ValidationException")
                    return
                with endpoint._lock:
                    endpoint.counted.append(counted)
                seen = counted.system + json.dumps(counted.tools, sort_keys=True) + json.dumps(counted.messages)
                self._json(200, {"inputTokens": math.ceil(len(seen) / CHARS_PER_TOKEN)})
                return
            try:
                body = json.loads(raw)
                if api in ("invoke", "invoke-with-response-stream"):
                    turn = _anthropic_turn(model_id, body, api)
                else:
                    turn = _converse_turn(api, model_id, body)
            except (ValidationError, KeyError, TypeError, ValueError) as e:
                self._json(400, {"message": f"Malformed input request: {e}"}, "ValidationException")
                return
            try:
                reply, calls, usage = endpoint.answer(turn)
            except Exception as e:  # noqa: BLE001 - the scripted model's bug goes back to the test, unretried
                endpoint.model_errors.append(e)
                self._json(400, {"message": f"{type(e).__name__}: {e}"}, "ScriptedModelFailure")
                return
            match api:
                case "converse":
                    self._json(200, _converse_body(reply, calls, usage))
                case "invoke":
                    self._json(200, _anthropic_response(model_id, reply, calls, usage))
                case "invoke-with-response-stream":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/vnd.amazon.eventstream")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    error = endpoint.take_stream_error()
                    patches = endpoint.take_stream_patch()
                    for index, event in enumerate(_anthropic_stream(model_id, reply, calls, usage)):
                        event = {**event, **patches.get(event["type"], {})}  # noqa: PLW2901 - the patched event
                        payload = {"bytes": base64.b64encode(json.dumps(event).encode()).decode()}
                        frame = encode_event("chunk", payload)
                        if error and index == 1:  # after message_start, like fail_next_stream for Converse
                            frame = encode_exception(error, "Too many tokens, please wait.")
                        self.wfile.write(f"{len(frame):x}\r\n".encode() + frame + b"\r\n")
                        self.wfile.flush()
                        if error and index == 1:
                            break
                    self.wfile.write(b"0\r\n\r\n")
                case "converse-stream":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/vnd.amazon.eventstream")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    frames = list(_stream_events(reply, calls, usage))
                    error = endpoint.take_stream_error()
                    if error == _CUT:
                        # A chunk announced but never finished, then the socket closes: a broken stream.
                        self.wfile.write(f"{len(frames[0]):x}\r\n".encode() + frames[0] + b"\r\n")
                        self.wfile.write(f"{len(frames[1]):x}\r\n".encode() + frames[1][:5])
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    if error:
                        frames = [frames[0], encode_exception(error, "Too many tokens, please wait.")]
                    for frame in frames:
                        self.wfile.write(f"{len(frame):x}\r\n".encode() + frame + b"\r\n")
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")

    return Handler


@contextmanager
def run_endpoint(model: ScriptedModel) -> Generator[Endpoint]:
    """Serve on 127.0.0.1 (a free port) in a thread for the duration of the block."""
    endpoint = Endpoint(model=model)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(endpoint))
    server.daemon_threads = True
    endpoint.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="fake-bedrock", daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
