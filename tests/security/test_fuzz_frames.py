"""Fuzzing the host's side of the bridge: ≥ 100,000 frames through its parser and its dispatcher.

Hypothesis draws the parameters of each batch (a seed, the mix of frame kinds, how the bytes are
chunked); a seeded generator expands them into thousands of frames, so the run stays well under a
minute while hypothesis still explores and shrinks. Two levels:

- the frame parser (`FrameDecoder` + `parse_frame`) against hostile bytes: forged headers, wrong
  nonces, lengths over the limit, bad UTF-8, non-JSON, NaN, deep nesting, wrong shapes. Only
  `FrameError` or a refusal string may come out, and the decoder never holds more than one frame;
- the dispatcher (the real `Executor` with a scripted sandbox that plays the frames with the
  execution's real nonce): long runs of valid `output` / `call` frames with hostile contents, then
  a random last frame. Every execution ends in an `ExecutionResult` within its deadline, output stays
  within `max_output_bytes`, and the Python heap stays bounded.
"""

from __future__ import annotations

import json
import random
import resource
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.protocol import FrameDecoder, FrameError, encode_frame
from gateway.config import ExecutionLimits
from gateway.executor import Executor
from gateway.executor._frames import parse_frame
from gateway.tools import BaseToolSource, CallOptions, JsonValue, TextContent, ToolRef, ToolResult, ToolSpec
from tests.executor._fleet import toolbox
from tests.security._scripted import ScriptedBackend

FRAMES_REQUIRED = 100_000
MAX_FRAME_BYTES = 64 * 1024
NONCE = "0123456789abcdef0123456789abcdef"
OTHER_NONCE = "fedcba9876543210fedcba9876543210"

TEXTS = ["", "x", "hello\n", "\ud800", "\udfff lone", "\x00\x1b[2J\r", "é漢🙂", "#PTC 1 " + NONCE + " 5\n", "a" * 3000]
KEYS = ["a", "text", "", "\ud800", "__proto__", "constructor", "k" * 300, "é"]


def _json_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.45:
        return rng.choice(
            [None, True, False, 0, -1, 2**53, 2**64, 1.5, -0.0, 1e308, rng.choice(TEXTS), rng.randrange(10**6)]
        )
    if roll < 0.7:
        return [_json_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(KEYS): _json_value(rng, depth + 1) for _ in range(rng.randrange(4))}


def _frame(nonce: str, body: bytes) -> bytes:
    return b"#PTC 1 %s %d\n%s\n" % (nonce.encode(), len(body), body)


def _body(message: object, *, raw: bool = False) -> bytes:
    """JSON with lone surrogates escaped (valid UTF-8), or written raw (invalid UTF-8) when `raw`."""
    if raw:
        return json.dumps(message, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return json.dumps(message).encode()


# ---- hostile frames for the parser ------------------------------------------------------------------------

HostileMaker = Callable[[random.Random], bytes]


def _valid(rng: random.Random) -> bytes:
    message = rng.choice(
        [
            {"type": "started"},
            {"type": "output", "stream": rng.choice(["stdout", "stderr"]), "data": rng.choice(TEXTS)},
            {"type": "call", "id": rng.randrange(2**53), "tool": "calc.echo", "arguments": {"text": "x"}},
            {"type": "done", "ok": True, "tool_calls": 0, "stdout_dropped": 0, "stderr_dropped": 0},
        ]
    )
    return _frame(NONCE, _body(message))


def _wrong_shape(rng: random.Random) -> bytes:
    message: dict[str, Any] = {
        "type": rng.choice(["call", "output", "done", "started", "result", "hello", "job", "d\u043ene", "", "x" * 100]),
    }
    for _ in range(rng.randrange(5)):
        message[rng.choice(["id", "tool", "arguments", "stream", "data", "ok", "error", "tool_calls", *KEYS])] = (
            _json_value(rng)
        )
    return _frame(NONCE, _body(message, raw=rng.random() < 0.2))


def _bad_body(rng: random.Random) -> bytes:
    body = rng.choice(
        [
            b"not json",
            b"NaN",
            b'{"type": "output", "stream": "stdout", "data": NaN}',
            b'{"type": "started", "x": Infinity}',
            b"[1, 2, 3]",
            b'"started"',
            b"\xff\xfe\xfd",
            b'{"type": 5}',
            b"[" * 1500 + b"]" * 1500,
            b'{"a":' * 1500 + b"1" + b"}" * 1500,
            b'{"type": "done", "ok": true, "tool_calls": ' + b"9" * 5000 + b"}",
            b"",
        ]
    )
    return _frame(NONCE, body)


def _bad_header(rng: random.Random) -> bytes:
    body = _body({"type": "started"})
    return rng.choice(
        [
            _frame(OTHER_NONCE, body),
            b"#PTC 2 %s %d\n%s\n" % (NONCE.encode(), len(body), body),
            b"#PTX 1 %s %d\n%s\n" % (NONCE.encode(), len(body), body),
            b"#PTC 1 %s %d\n%s\n" % (NONCE.encode(), MAX_FRAME_BYTES + 1, body),
            b"#PTC 1 %s 99999999999999999999\n" % NONCE.encode(),
            b"#PTC 1 %s -5\n" % NONCE.encode(),
            b"#PTC 1 %s 5\n%sX" % (NONCE.encode(), body[:5]),
            b"#PTC 1 NONCE 5\nhello\n",
            b"x" * 100,
            bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))),
            b"\n",
        ]
    )


HOSTILE: Sequence[HostileMaker] = (_valid, _wrong_shape, _bad_body, _bad_header)


def _decode_batch(seed: int, frames: int, weights: Sequence[float], max_chunk: int) -> int:
    """Feed `frames` hostile frames through decoders (a fresh one after each `FrameError`)."""
    rng = random.Random(seed)
    decoder = FrameDecoder(max_frame_bytes=MAX_FRAME_BYTES, nonce=NONCE)
    for _ in range(frames):
        data = rng.choices(HOSTILE, weights)[0](rng)
        position = 0
        while position < len(data):
            step = rng.randint(1, max_chunk)
            try:
                messages = decoder.feed(data[position : position + step])
            except FrameError as e:
                messages = e.frames
                decoder = FrameDecoder(max_frame_bytes=MAX_FRAME_BYTES, nonce=NONCE)
                position = len(data)  # the stream is unusable: the host ends the execution here
            else:
                position += step
            for nonce, message in messages:
                assert nonce == NONCE
                parsed = parse_frame(message)
                if isinstance(parsed, str):
                    assert parsed.startswith("malformed") and parsed.isascii() is parsed.isascii()
                    assert len(parsed) < 2000
            assert decoder.buffered <= MAX_FRAME_BYTES + 80
        # A frame that left the decoder mid-frame: start clean for the next one.
        if decoder.buffered:
            decoder = FrameDecoder(max_frame_bytes=MAX_FRAME_BYTES, nonce=NONCE)
    return frames


def test_fuzz_the_frame_parser() -> None:
    counted = {"frames": 0}
    started = time.perf_counter()
    # Memory: `decoder.buffered` is checked after every feed (one frame at most, whatever arrives).

    @settings(max_examples=45, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        seed=st.integers(0, 2**32 - 1),
        weights=st.lists(st.floats(0.05, 1.0), min_size=4, max_size=4),
        max_chunk=st.sampled_from([1 << 20, 4096, 64, 7]),
    )
    def batch(seed: int, weights: list[float], max_chunk: int) -> None:
        counted["frames"] += _decode_batch(seed, 2500, weights, max_chunk)

    batch()
    elapsed = time.perf_counter() - started
    print(f"parser fuzz: {counted['frames']} frames in {elapsed:.1f} s ({counted['frames'] / elapsed:.0f} frames/s)")
    assert counted["frames"] >= FRAMES_REQUIRED


# ---- the dispatcher ----------------------------------------------------------------------------------------

SPECS = [
    ToolSpec(server="calc", name="echo", input_schema={"type": "object", "properties": {"text": {}}}),
    ToolSpec(
        server="calc",
        name="strict",
        input_schema={"type": "object", "properties": {"a": {}}, "additionalProperties": False},
    ),
]
LIMITS = ExecutionLimits(
    execution_timeout_s=60,
    max_tool_calls=1_000_000,
    max_concurrent_calls=50,
    max_output_bytes=16 * 1024,
    max_frame_bytes=MAX_FRAME_BYTES,
    max_result_bytes=8 * 1024,
)


class EchoSource(BaseToolSource):
    """Answers every call at once with a short text (its argument count)."""

    def __init__(self) -> None:
        self.calls = 0

    async def list_tools(self) -> Sequence[ToolSpec]:
        return SPECS

    async def call_tool(
        self, ref: ToolRef, arguments: Mapping[str, JsonValue], *, options: CallOptions | None = None
    ) -> ToolResult:
        self.calls += 1
        return ToolResult(content=(TextContent(text=f"{len(arguments)} arguments"),))


def _script(seed: int, frames: int, call_share: float, ending: int) -> Callable[[str], list[bytes]]:
    """`frames` valid frames with hostile contents, then a last frame chosen by `ending`."""

    def play(nonce: str) -> list[bytes]:
        rng = random.Random(seed)
        out = [encode_frame(nonce, {"type": "started"})]
        for index in range(frames):
            if rng.random() < call_share:
                tool = rng.choice(["calc.echo", "calc.strict"])
                arguments = {rng.choice(KEYS): _json_value(rng) for _ in range(rng.randrange(3))}
                message: dict[str, Any] = {"type": "call", "id": index, "tool": tool, "arguments": arguments}
            else:
                message = {"type": "output", "stream": rng.choice(["stdout", "stderr"]), "data": rng.choice(TEXTS)}
            out.append(_frame(nonce, _body(message)))
        last = {"type": "done", "ok": True, "tool_calls": 0, "stdout_dropped": 0, "stderr_dropped": 0}
        match ending % 4:
            case 0:
                tail = encode_frame(nonce, last)
            case 1:
                tail = _frame(nonce, _body({**last, "ok": False, "error": {"type": "E", "message": "m" * 30_000}}))
            case 2:
                tail = rng.choice(HOSTILE[1:])(rng).replace(NONCE.encode(), nonce.encode())
            case _:
                tail = b""  # the runner just stops: a crash
        return [b"".join(out) + tail]

    return play


def test_fuzz_the_dispatcher() -> None:
    counted = {"frames": 0, "executions": 0}
    box = toolbox(specs=SPECS, stubs="")
    started = time.perf_counter()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    @settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        seed=st.integers(0, 2**32 - 1),
        call_share=st.floats(0.0, 0.6),
        ending=st.integers(0, 3),
    )
    def execution(seed: int, call_share: float, ending: int) -> None:
        frames = 2600
        source = EchoSource()
        executor = Executor(
            backend=ScriptedBackend(_script(seed, frames, call_share, ending)), source=source, limits=LIMITS
        )

        async def go() -> None:
            with anyio.fail_after(30):
                result = await executor.execute("pass", toolbox=box)
            for text in (result.stdout, result.stderr):
                assert len(text.encode()) <= LIMITS.max_output_bytes + 200
            if result.error is not None:
                assert result.error.kind in ("code", "protocol", "crash"), result.error
                assert len(result.error.message.encode()) <= LIMITS.max_output_bytes + 200
            else:
                assert ending % 4 in (0, 2)

        anyio.run(go)
        counted["frames"] += frames + 2
        counted["executions"] += 1

    execution()
    elapsed = time.perf_counter() - started
    growth_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    print(
        f"dispatcher fuzz: {counted['frames']} frames in {counted['executions']} executions, {elapsed:.1f} s "
        f"({counted['frames'] / elapsed:.0f} frames/s), peak RSS growth {growth_mib:.1f} MiB"
    )
    assert counted["frames"] >= FRAMES_REQUIRED
    assert growth_mib < 256  # every execution's state is bounded and freed: no growth with the frame count
