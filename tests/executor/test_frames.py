"""`parse_frame`: the hand-checked fast path for `call` frames agrees with the strict model."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from gateway.executor._frames import FRAME_ADAPTER, CallFrame, parse_frame

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10,
)
ANYTHING = JSON | st.builds(object) | st.tuples(st.integers())
IDS = st.integers(min_value=-3, max_value=2**53 + 3) | st.booleans() | st.floats() | st.text(max_size=3) | st.none()
TOOLS = st.text(max_size=3) | st.text(min_size=1020, max_size=1030) | st.integers() | st.none()


@st.composite
def call_like(draw: st.DrawFn) -> dict[str, Any]:
    """A valid call frame, then usually one field replaced, dropped or added."""
    message: dict[str, Any] = {
        "type": "call",
        "id": draw(st.integers(min_value=0, max_value=2**53)),
        "tool": draw(st.text(max_size=8)),
        "arguments": draw(st.dictionaries(st.text(max_size=4), JSON, max_size=3)),
    }
    match draw(st.sampled_from(["keep", "replace", "drop", "add"])):
        case "replace":
            key = draw(st.sampled_from(sorted(message)))
            message[key] = draw(
                {"type": st.sampled_from(["started", "Call", "call "]) | ANYTHING, "id": IDS, "tool": TOOLS}.get(
                    key, ANYTHING
                )
            )
        case "drop":
            del message[draw(st.sampled_from(sorted(message)))]
        case "add":
            message[draw(st.text(max_size=4).filter(lambda k: k not in message))] = draw(JSON)
        case _:
            pass
    return message


@settings(max_examples=300)
@given(call_like())
def test_fast_path_matches_the_model(message: dict[str, Any]) -> None:
    try:
        expected: object = FRAME_ADAPTER.validate_python(message)
    except ValidationError:
        expected = None
    parsed = parse_frame(message)
    if expected is None:
        assert isinstance(parsed, str) and parsed.startswith("malformed")
    else:
        assert parsed == expected


def test_a_well_formed_call() -> None:
    parsed = parse_frame({"type": "call", "id": 7, "tool": "ns.t", "arguments": {"a": [1, {"b": None}]}})
    assert parsed == CallFrame(type="call", id=7, tool="ns.t", arguments={"a": [1, {"b": None}]})
