from __future__ import annotations

import pytest

from bridge.protocol import HELLO_NONCE, FrameDecoder, FrameError, encode_frame, new_nonce


def test_round_trip_byte_by_byte() -> None:
    nonce = new_nonce()
    messages = [{"type": "output", "stream": "stdout", "data": "héllo\n#PTC 1 x 3\n"}, {"type": "started"}]
    data = b"".join(encode_frame(nonce, m) for m in messages)
    decoder = FrameDecoder(nonce=nonce)
    out: list[tuple[str, dict[str, object]]] = []
    for i in range(len(data)):
        out += decoder.feed(data[i : i + 1])
    assert out == [(nonce, m) for m in messages]
    assert decoder.buffered == 0


def test_nonce_is_checked() -> None:
    frame = encode_frame(new_nonce(), {"type": "started"})
    with pytest.raises(FrameError, match="wrong nonce"):
        FrameDecoder(nonce=new_nonce()).feed(frame)
    assert FrameDecoder(nonce=None).feed(encode_frame(HELLO_NONCE, {"type": "hello"}))[0][0] == HELLO_NONCE


def test_oversized_frame_is_refused_from_its_header() -> None:
    nonce = new_nonce()
    with pytest.raises(FrameError, match="exceeds the 10-byte limit"):
        FrameDecoder(nonce=nonce, max_frame_bytes=10).feed(f"#PTC 1 {nonce} 11\n".encode())


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"hello world\n", "malformed frame header"),
        (b"x" * 100, "no frame header"),
        (b"#PTC 2 " + b"0" * 32 + b" 2\n{}\n", "protocol version"),
        (b"#PTC 1 " + b"0" * 32 + b" -1\n", "malformed frame length"),
        (b"#PTC 1 " + b"0" * 32 + b" 2\n[]\n", "not an object"),
        (b"#PTC 1 " + b"0" * 32 + b" 2\n{}X", "not followed by a newline"),
        (b"#PTC 1 " + b"0" * 32 + b" 3\n{x}\n", "not valid JSON"),
        (b"#PTC 1 " + b"0" * 32 + b' 11\n{"x":[NaN]}\n', "NaN is not JSON"),
        (b"#PTC 1 " + b"0" * 32 + b' 15\n{"x":-Infinity}\n', "-Infinity is not JSON"),
        (b"#PTC 1 " + b"Z" * 32 + b" 2\n{}\n", "malformed nonce"),
    ],
)
def test_bad_frames(data: bytes, match: str) -> None:
    with pytest.raises(FrameError, match=match):
        FrameDecoder().feed(data)


def test_nan_is_not_encoded() -> None:
    with pytest.raises(ValueError):
        encode_frame(new_nonce(), {"type": "x", "value": float("nan")})


def test_frames_before_a_bad_one_are_kept_on_the_error() -> None:
    nonce = new_nonce()
    good = encode_frame(nonce, {"type": "started"})
    with pytest.raises(FrameError) as info:
        FrameDecoder(nonce=nonce).feed(good + b"garbage\n")
    assert info.value.frames == [(nonce, {"type": "started"})]
