"""Tool-source wrappers: per-server tool filters and the approval policy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import anyio
import pytest
from anyio import wait_all_tasks_blocked

from gateway.config import load_settings
from gateway.errors import UnknownToolError
from gateway.policy import ApprovalPolicy, ApprovalToolSource, FilteredToolSource
from gateway.testing import FunctionToolSource, RecordedCall
from gateway.tools import (
    JsonValue,
    TextContent,
    ToolAnnotations,
    ToolRef,
    ToolResult,
    ToolSpec,
)

READ = ToolAnnotations(read_only=True)
DESTRUCTIVE = ToolAnnotations(destructive=True)


def recording_source(specs: Sequence[ToolSpec]) -> FunctionToolSource:
    """The fleet `specs`, answering every call with the tool's ref."""

    async def answer(call: RecordedCall) -> str:
        return f"called {call.ref}"

    return FunctionToolSource(specs, handler=answer)


def calls(source: FunctionToolSource) -> list[tuple[ToolRef, Mapping[str, JsonValue]]]:
    return [(call.ref, call.arguments) for call in source.calls]


def spec(ref: str, annotations: ToolAnnotations | None = None) -> ToolSpec:
    server, name = ref.split("/")
    return ToolSpec(server=server, name=name, annotations=annotations or ToolAnnotations())


def ref(text: str) -> ToolRef:
    server, name = text.split("/")
    return ToolRef(server=server, name=name)


FLEET = [
    spec("fs/read_file", READ),
    spec("fs/write_file", DESTRUCTIVE),
    spec("fs/delete_file", DESTRUCTIVE),
    spec("git/git_log", READ),
    spec("git/git_commit"),
    spec("time/get_current_time", READ),
]


def names(specs: Sequence[ToolSpec]) -> list[str]:
    return [str(s.ref) for s in specs]


# --- FilteredToolSource --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_enabled_and_disabled_patterns() -> None:
    inner = recording_source(FLEET)
    source = FilteredToolSource(
        inner,
        enabled={"fs": ["*_file"], "git": None},
        disabled={"fs": ["delete_*"], "git": ["git_commit"]},
    )
    assert names(await source.list_tools()) == [
        "fs/read_file",
        "fs/write_file",
        "git/git_log",
        "time/get_current_time",
    ]
    result = await source.call_tool(ref("fs/read_file"), {"path": "/x"})
    assert result.content == (TextContent(text="called fs/read_file"),)
    assert calls(inner) == [(ref("fs/read_file"), {"path": "/x"})]


@pytest.mark.anyio
async def test_enabled_list_hides_everything_else() -> None:
    source = FilteredToolSource(recording_source(FLEET), enabled={"git": ["git_log"]}, disabled={})
    assert names(await source.list_tools()) == [
        "fs/read_file",
        "fs/write_file",
        "fs/delete_file",
        "git/git_log",
        "time/get_current_time",
    ]
    empty = FilteredToolSource(recording_source(FLEET), enabled={"time": []}, disabled={})
    assert "time/get_current_time" not in names(await empty.list_tools())


@pytest.mark.anyio
async def test_calls_to_hidden_tools_are_refused() -> None:
    inner = recording_source(FLEET)
    source = FilteredToolSource(inner, enabled={}, disabled={"fs": ["delete_*"]})
    with pytest.raises(UnknownToolError) as caught:
        await source.call_tool(ref("fs/delete_file"), {})
    assert caught.value.server == "fs"
    assert "fs/delete_file" in str(caught.value) and "disabled_tools" in str(caught.value)
    assert calls(inner) == []


@pytest.mark.anyio
async def test_find_tool_sees_what_list_tools_sees() -> None:
    source = FilteredToolSource(recording_source(FLEET), enabled={"git": ["git_log"]}, disabled={"fs": ["delete_*"]})
    assert await source.find_tool(ref("fs/read_file")) == FLEET[0]
    assert await source.find_tool(ref("git/git_log")) == FLEET[3]
    for hidden in ("fs/delete_file", "git/git_commit", "fs/nope", "ghost/x"):
        assert await source.find_tool(ref(hidden)) is None
    listed = names(await source.list_tools())
    for spec_ in FLEET:
        assert (await source.find_tool(spec_.ref) is not None) == (str(spec_.ref) in listed)


@pytest.mark.anyio
async def test_patterns_are_case_sensitive() -> None:
    source = FilteredToolSource(recording_source(FLEET), enabled={}, disabled={"fs": ["READ_*"]})
    assert "fs/read_file" in names(await source.list_tools())


@pytest.mark.anyio
async def test_filter_from_settings(tmp_path: Path) -> None:
    config = tmp_path / "g.toml"
    config.write_text(
        '[servers.fs]\ncommand = "x"\nenabled_tools = ["read_*", "write_*"]\ndisabled_tools = ["write_*"]\n'
        '[servers.git]\ncommand = "y"\n',
        encoding="utf-8",
    )
    source = FilteredToolSource.from_settings(recording_source(FLEET), load_settings(config_file=config, environ={}))
    assert names(await source.list_tools()) == [
        "fs/read_file",
        "git/git_log",
        "git/git_commit",
        "time/get_current_time",
    ]


# --- ApprovalPolicy -------------------------------------------------------------------------------


def test_default_and_destructive() -> None:
    policy = ApprovalPolicy()
    assert policy.decide(spec("git/git_commit")) == "allow"  # no annotations: not treated as destructive
    assert policy.decide(spec("fs/write_file", DESTRUCTIVE)) == "ask"
    assert policy.decide(spec("fs/odd", ToolAnnotations(destructive=True, read_only=True))) == "allow"
    assert policy.decide(spec("fs/read_file", ToolAnnotations(destructive=False))) == "allow"
    strict = ApprovalPolicy(default="ask", destructive="deny")
    assert strict.decide(spec("git/git_commit")) == "ask"
    assert strict.decide(spec("fs/write_file", DESTRUCTIVE)) == "deny"


def test_require_approval_beats_destructive_and_default() -> None:
    policy = ApprovalPolicy(destructive="deny", require_approval={"fs": ["write_*"], "git": ["git_commit"]})
    assert policy.decide(spec("fs/write_file", DESTRUCTIVE)) == "ask"
    assert policy.decide(spec("git/git_commit")) == "ask"
    assert policy.decide(spec("fs/delete_file", DESTRUCTIVE)) == "deny"
    assert policy.decide(spec("time/git_commit")) == "allow"  # patterns apply to their own server only


def test_explicit_tool_entries_win() -> None:
    policy = ApprovalPolicy(
        default="deny",
        tools={"fs/*": "ask", "fs/read_*": "allow", "fs/write_file": "deny", "*": "allow"},
        require_approval={"fs": ["read_file"]},
    )
    assert policy.decide(spec("fs/read_file", READ)) == "allow"  # `fs/read_*` is longer than `fs/*`
    assert policy.decide(spec("fs/write_file", DESTRUCTIVE)) == "deny"  # exact key
    assert policy.decide(spec("fs/delete_file", DESTRUCTIVE)) == "ask"
    assert policy.decide(spec("git/git_log")) == "allow"  # `*` matches across the slash


def test_equally_long_patterns_pick_the_most_restrictive() -> None:
    policy = ApprovalPolicy(tools={"fs/?rite_file": "allow", "fs/w?ite_file": "deny", "fs/wr?te_file": "ask"})
    assert policy.decide(spec("fs/write_file")) == "deny"


def test_explain_names_the_setting() -> None:
    policy = ApprovalPolicy(tools={"fs/w*": "deny"}, require_approval={"git": ["git_*"]})
    assert policy.explain(spec("fs/write_file")) == ("deny", "approval.tools['fs/w*']")
    assert policy.explain(spec("git/git_log")) == ("ask", "servers.git.require_approval ('git_*')")
    assert policy.explain(spec("fs/delete_file", DESTRUCTIVE))[1].startswith("approval.destructive")
    assert policy.explain(spec("time/x")) == ("allow", "approval.default")


def test_policy_from_settings(tmp_path: Path) -> None:
    config = tmp_path / "g.toml"
    config.write_text(
        '[approval]\ndefault = "ask"\ndestructive = "deny"\ntools = { "time/*" = "allow" }\n'
        '[servers.fs]\ncommand = "x"\nrequire_approval = ["read_*"]\n'
        '[servers.time]\ncommand = "y"\n',
        encoding="utf-8",
    )
    policy = ApprovalPolicy.from_settings(load_settings(config_file=config, environ={}))
    assert policy == ApprovalPolicy(
        default="ask", destructive="deny", tools={"time/*": "allow"}, require_approval={"fs": ("read_*",)}
    )


# --- ApprovalToolSource ---------------------------------------------------------------------------


class Asker:
    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.asked: list[tuple[ToolRef, ToolSpec, Mapping[str, JsonValue]]] = []

    async def __call__(self, ref: ToolRef, spec: ToolSpec, arguments: Mapping[str, JsonValue]) -> bool:
        self.asked.append((ref, spec, arguments))
        return self.answer


def refusal_text(result: ToolResult) -> str:
    assert result.is_error
    (content,) = result.content
    assert isinstance(content, TextContent)
    return content.text


POLICY = ApprovalPolicy(tools={"fs/delete_*": "deny"})  # destructive → ask by default


@pytest.mark.anyio
async def test_allowed_calls_go_through_without_asking() -> None:
    inner, asker = recording_source(FLEET), Asker(False)
    source = ApprovalToolSource(inner, policy=POLICY, ask=asker)
    result = await source.call_tool(ref("fs/read_file"), {"path": "a"}, options={"timeout_s": 1.0})
    assert not result.is_error
    assert calls(inner) == [(ref("fs/read_file"), {"path": "a"})]
    assert asker.asked == []
    assert names(await source.list_tools()) == names(FLEET)
    assert source.policy is POLICY


@pytest.mark.anyio
async def test_denied_calls_are_tool_errors_and_never_reach_the_server() -> None:
    inner, asker = recording_source(FLEET), Asker(True)
    source = ApprovalToolSource(inner, policy=POLICY, ask=asker)
    text = refusal_text(await source.call_tool(ref("fs/delete_file"), {}))
    assert text == (
        "Call to fs/delete_file was denied by the gateway's approval policy (approval.tools['fs/delete_*'] = 'deny')."
    )
    assert calls(inner) == [] and asker.asked == []


@pytest.mark.anyio
async def test_ask_approved() -> None:
    inner, asker = recording_source(FLEET), Asker(True)
    source = ApprovalToolSource(inner, policy=POLICY, ask=asker)
    result = await source.call_tool(ref("fs/write_file"), {"path": "a", "text": "b"})
    assert not result.is_error
    assert asker.asked == [(ref("fs/write_file"), FLEET[1], {"path": "a", "text": "b"})]
    assert calls(inner) == [(ref("fs/write_file"), {"path": "a", "text": "b"})]


@pytest.mark.anyio
async def test_ask_declined() -> None:
    inner, asker = recording_source(FLEET), Asker(False)
    source = ApprovalToolSource(inner, policy=POLICY, ask=asker)
    text = refusal_text(await source.call_tool(ref("fs/write_file"), {}))
    assert text == "The user declined the call to fs/write_file; it was not made."
    assert calls(inner) == []


@pytest.mark.anyio
async def test_ask_without_a_way_to_ask_is_refused() -> None:
    inner = recording_source(FLEET)
    source = ApprovalToolSource(inner, policy=POLICY, ask=None)
    text = refusal_text(await source.call_tool(ref("fs/write_file"), {}))
    assert "needs the user's approval (approval.destructive" in text
    assert "cannot be asked" in text
    assert calls(inner) == []


@pytest.mark.anyio
async def test_unlisted_tools_are_still_checked() -> None:
    inner = recording_source(FLEET)
    source = ApprovalToolSource(inner, policy=ApprovalPolicy(tools={"ghost/*": "deny"}), ask=None)
    assert refusal_text(await source.call_tool(ref("ghost/boo"), {})).startswith("Call to ghost/boo was denied")
    with pytest.raises(UnknownToolError):  # allowed by policy: the inner source answers for itself
        await source.call_tool(ref("fs/nope"), {})


@pytest.mark.anyio
async def test_wrappers_compose() -> None:
    inner = recording_source(FLEET)
    filtered = FilteredToolSource(inner, enabled={}, disabled={"fs": ["delete_*"]})
    source = ApprovalToolSource(filtered, policy=ApprovalPolicy(destructive="deny"), ask=None)
    assert "fs/delete_file" not in names(await source.list_tools())
    with pytest.raises(UnknownToolError):
        await source.call_tool(ref("fs/delete_file"), {})
    assert refusal_text(await source.call_tool(ref("fs/write_file"), {})).startswith("Call to fs/write_file was denied")
    assert calls(inner) == []


@pytest.mark.anyio
async def test_a_tool_that_becomes_destructive_is_asked_about_from_then_on() -> None:
    """The policy's answer is reused per tool only while the server lists the same spec."""
    inner, asker = recording_source([spec("db/query", READ)]), Asker(False)
    source = ApprovalToolSource(inner, policy=ApprovalPolicy(), ask=asker)
    for _ in range(2):
        assert not (await source.call_tool(ref("db/query"), {})).is_error
    inner.relist([spec("db/query", DESTRUCTIVE)])  # the server re-listed its tools (tools/list_changed)
    assert refusal_text(await source.call_tool(ref("db/query"), {})) == (
        "The user declined the call to db/query; it was not made."
    )
    assert len(calls(inner)) == 2 and len(asker.asked) == 1


class SlowAsker:
    """Answers yes, but only once every other task is blocked: overlapping questions would show."""

    def __init__(self) -> None:
        self.active = 0
        self.most_active = 0
        self.asked = 0

    async def __call__(self, ref: ToolRef, spec: ToolSpec, arguments: Mapping[str, JsonValue]) -> bool:
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        self.asked += 1
        await wait_all_tasks_blocked()
        self.active -= 1
        return True


@pytest.mark.anyio
async def test_questions_are_asked_one_at_a_time() -> None:
    inner, asker = recording_source(FLEET), SlowAsker()
    source = ApprovalToolSource(inner, policy=POLICY, ask=asker)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for i in range(3):
                tg.start_soon(source.call_tool, ref("fs/write_file"), {"n": i})
    assert (asker.asked, asker.most_active, len(calls(inner))) == (3, 1, 3)


@pytest.mark.anyio
async def test_a_decline_sticks_for_the_wrappers_life() -> None:
    inner, asker = recording_source(FLEET), Asker(False)
    source = ApprovalToolSource(inner, policy=POLICY, ask=asker)
    for _ in range(3):
        assert refusal_text(await source.call_tool(ref("fs/write_file"), {})).startswith("The user declined")
    assert len(asker.asked) == 1
    asker.answer = True
    approved = ApprovalToolSource(inner, policy=ApprovalPolicy(), ask=asker)  # a new execution asks again
    assert not (await approved.call_tool(ref("fs/write_file"), {})).is_error
