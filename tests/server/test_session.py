"""Behaviour over a session: approvals by elicitation, progress, upstream restarts, cancellation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from anyio.abc import ByteReceiveStream
from mcp import Client, StdioServerParameters
from mcp.client.context import ClientRequestContext

from tests.server.conftest import ListChanged, ready_description, serve_args

DELETE_CODE = """
for item in ("invoice-7", "invoice-8"):
    try:
        print((await testbox.delete_item(item_id=item))["result"])
    except ToolError as e:
        print("refused:", e)
"""
DECLINED = "refused: The user declined the call to testbox/delete_item; it was not made.\n"


def _params(servers_file: Path, env: dict[str, str], sandbox: str = "local-process") -> StdioServerParameters:
    command, *args = serve_args(servers_file, sandbox=sandbox)
    return StdioServerParameters(command=command, args=args, env=env)


class Approver:
    """An elicitation callback that answers with a fixed action and records what it was asked."""

    def __init__(self, action: str, content: dict[str, Any] | None = None) -> None:
        self.action = action
        self.content = content
        self.messages: list[str] = []

    async def __call__(self, context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        assert isinstance(params, types.ElicitRequestFormParams)
        self.messages.append(params.message)
        return types.ElicitResult(action=self.action, content=self.content)  # type: ignore[arg-type]


async def _run(client: Client, code: str, **kwargs: Any) -> dict[str, Any]:
    result = await client.call_tool("execute_code", {"code": code}, **kwargs)
    assert result.structured_content is not None, result.content
    return result.structured_content


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("approver", "expected", "questions"),
    [
        (Approver("accept", {"approve": True}), "deleted invoice-7\ndeleted invoice-8\n", 2),
        (Approver("accept", {"approve": True, "remember": True}), "deleted invoice-7\ndeleted invoice-8\n", 1),
        # A refusal sticks for the rest of the execution: the loop does not ask again.
        (Approver("accept", {"approve": False}), DECLINED * 2, 1),
        (Approver("decline"), DECLINED * 2, 1),
    ],
    ids=["accepts", "accepts-and-remembers", "unticks-approve", "declines"],
)
async def test_destructive_call_asks_the_user(
    approver: Approver, expected: str, questions: int, servers_file: Path, gateway_env: dict[str, str]
) -> None:
    changes = ListChanged()
    with anyio.fail_after(60):
        async with Client(
            _params(servers_file, gateway_env), mode="legacy", message_handler=changes, elicitation_callback=approver
        ) as client:
            await ready_description(client, changes)
            outcome = await _run(client, DELETE_CODE)
            assert outcome["stdout"] == expected
            assert len(approver.messages) == questions
            assert "testbox/delete_item" in approver.messages[0]
            assert "invoice-7" in approver.messages[0]
            # Read-only tools never ask.
            await _run(client, "await testbox.whoami()")
            assert len(approver.messages) == questions


# The code swaps the runner's frame encoder for an ASCII one: its call frame then spells a lone surrogate
# as "\\ud800", which the host's JSON reader accepts (the runner's own encoder refuses to send it).
SURROGATE_CODE = """
import json, sys
sys.modules["bridge.protocol"]._ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))
try:
    print(await testbox.delete_item(item_id="invoice-\\ud800"))
except ToolError as e:
    print("refused:", e)
print("pid" in await testbox.whoami())
"""


@pytest.mark.anyio
async def test_a_lone_surrogate_in_the_arguments_of_a_call_that_asks_keeps_the_session(
    servers_file: Path, gateway_env: dict[str, str]
) -> None:
    # The question quoted the arguments as they were: the SDK could not encode the elicitation request,
    # its stdio writer raised and the client's whole session ended.
    approver = Approver("accept", {"approve": True})
    changes = ListChanged()
    with anyio.fail_after(60):
        async with Client(
            _params(servers_file, gateway_env), mode="legacy", message_handler=changes, elicitation_callback=approver
        ) as client:
            await ready_description(client, changes)
            outcome = await _run(client, SURROGATE_CODE)
            assert outcome["error"] is None, outcome
            (message,) = approver.messages
            assert '"invoice-\\ud800"' in message  # shown escaped
            refused, whoami = outcome["stdout"].splitlines()
            assert refused.startswith("refused: testbox.delete_item: the arguments cannot be sent as JSON")
            assert whoami == "True"
            assert (await _run(client, "print('still here')"))["stdout"] == "still here\n"


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", "auto"], ids=["no-elicitation", "modern-era"])
async def test_client_that_cannot_be_asked_is_refused(
    mode: str, servers_file: Path, gateway_env: dict[str, str]
) -> None:
    # legacy: the client declares no elicitation. 2026-07-28: it does, but that era has no
    # server-initiated requests, so it cannot be asked mid-call either. Never assumed approved.
    changes = ListChanged()
    approver = Approver("accept", {"approve": True}) if mode == "auto" else None
    with anyio.fail_after(60):
        async with Client(
            _params(servers_file, gateway_env), mode=mode, message_handler=changes, elicitation_callback=approver
        ) as client:
            await ready_description(client, changes)
            outcome = await _run(client, DELETE_CODE)
            assert outcome["stdout"].startswith("refused: Call to testbox/delete_item needs the user's approval")
    assert approver is None or approver.messages == []


@pytest.mark.anyio
async def test_progress_as_tool_calls_complete(servers_file: Path, gateway_env: dict[str, str]) -> None:
    changes = ListChanged()
    progress_seen: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        progress_seen.append((progress, message))

    with anyio.fail_after(60):
        async with Client(_params(servers_file, gateway_env), mode="legacy", message_handler=changes) as client:
            await ready_description(client, changes)
            code = "for _ in range(3):\n    await testbox.whoami()"
            await _run(client, code, progress_callback=on_progress)
    assert [value for value, _ in progress_seen] == [1, 2, 3]
    assert all(message == "testbox/whoami done" for _, message in progress_seen)


@pytest.mark.anyio
async def test_killed_upstream_is_restarted_for_the_next_call(servers_file: Path, gateway_env: dict[str, str]) -> None:
    changes = ListChanged()
    logs: list[str] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(str(params.data))

    with anyio.fail_after(90):
        async with Client(
            _params(servers_file, gateway_env), mode="legacy", message_handler=changes, logging_callback=on_log
        ) as client:
            await ready_description(client, changes)
            first = await _run(client, "print((await testbox.whoami())['pid'])")
            pid = int(first["stdout"])
            os.kill(pid, signal.SIGKILL)

            second = await _run(client, "print((await testbox.whoami())['pid'])")
            assert second["error"] is None, second
            assert int(second["stdout"]) != pid
            # The other servers never noticed.
            third = await _run(client, "print(len((await expenses.list_departments())['result']))")
            assert third["stdout"] == "5\n"
    assert any("'testbox'" in line for line in logs), logs


@pytest.mark.anyio
async def test_upstream_failure_reaches_a_modern_client_during_its_execution(
    servers_file: Path, gateway_env: dict[str, str]
) -> None:
    # 2026-07-28 has no connection-scoped logging: the message rides the running request's stream,
    # because the request opted in (`log_level`).
    changes = ListChanged()
    logs: list[tuple[str, str]] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append((params.level, str(params.data)))

    with anyio.fail_after(90):
        async with Client(
            _params(servers_file, gateway_env), logging_callback=on_log, log_level="info", message_handler=changes
        ) as client:
            assert client.protocol_version == "2026-07-28"
            await ready_description(client, changes)
            pid = int((await _run(client, "print((await testbox.whoami())['pid'])"))["stdout"])
            killed = anyio.Event()

            async def kill_after_first_call(progress: float, total: float | None, message: str | None) -> None:
                if not killed.is_set():
                    os.kill(pid, signal.SIGKILL)
                    killed.set()

            code = "await expenses.list_departments()\nawait asyncio.sleep(2)\nprint((await testbox.whoami())['pid'])"
            outcome = await _run(client, code, progress_callback=kill_after_first_call)
            assert killed.is_set()
            assert outcome["error"] is None, outcome
            assert int(outcome["stdout"]) != pid
    assert any(level == "warning" and "'testbox'" in text for level, text in logs), logs


@pytest.mark.anyio
async def test_upstream_list_changed_changes_the_description_and_notifies(
    servers_file: Path, gateway_env: dict[str, str]
) -> None:
    changes = ListChanged()
    with anyio.fail_after(60):
        async with Client(_params(servers_file, gateway_env), mode="legacy", message_handler=changes) as client:
            assert "def brand_new" not in await ready_description(client, changes)
            seen = changes.count
            added = await _run(client, "print((await testbox.add_tool(name='brand_new'))['result'])")
            assert added["stdout"] == "brand_new\n", added
            description = await _description_with(client, changes, seen, "def brand_new")
            assert "Added at run time: brand_new" in description
            # The new tool is callable from the next execution.
            called = await _run(client, "print((await testbox.brand_new())['result'])")
            assert called["stdout"] == "I am brand_new\n", called


async def _description_with(client: Client, changes: ListChanged, seen: int, text: str) -> str:
    """Wait for `tools/list_changed` notifications until the description contains `text`."""
    while True:
        await changes.after(seen)
        seen = changes.count
        tools = (await client.list_tools()).tools
        description = tools[0].description or ""
        if text in description:
            return description


def _sandbox_containers(gateway_pid: int) -> list[str]:
    """Running sandbox containers owned by one gateway process (label set by the Docker backend)."""
    listed = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"label=ptc-gateway.pid={gateway_pid}"],
        capture_output=True,
        check=True,
        text=True,
        timeout=30,
    )
    return listed.stdout.split()


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_cancel_kills_the_container_within_a_second(
    mode: str, docker: None, servers_file: Path, gateway_env: dict[str, str]
) -> None:
    env = {**gateway_env, "PTC_SANDBOX__POOL_SIZE": "0"}  # only the executing container exists
    changes = ListChanged()
    with anyio.fail_after(120):
        async with Client(_params(servers_file, env, sandbox="docker"), mode=mode, message_handler=changes) as client:
            await ready_description(client, changes)
            first = await _run(client, "print((await testbox.whoami())['ppid'])")
            assert first["error"] is None, first
            gateway_pid = int(first["stdout"])

            started = anyio.Event()

            async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                started.set()

            code = "await testbox.whoami()\nawait asyncio.sleep(60)\nprint('not cancelled')"
            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: client.call_tool("execute_code", {"code": code}, progress_callback=on_progress))
                await started.wait()
                assert len(_sandbox_containers(gateway_pid)) == 1
                tg.cancel_scope.cancel()  # the SDK client sends notifications/cancelled
            cancelled_at = anyio.current_time()
            while _sandbox_containers(gateway_pid):
                assert anyio.current_time() - cancelled_at < 1.0, "the container outlived the cancel by 1 s"
                await anyio.sleep(0.05)

            # The session is still usable.
            after = await _run(client, "print('still here')")
            assert after["stdout"] == "still here\n"


@pytest.mark.anyio
async def test_no_answer_in_time_is_a_refusal(servers_file: Path, gateway_env: dict[str, str]) -> None:
    # Shorter than the user's wait would be; the call's own limits are far shorter than the test's.
    env = {**gateway_env, "PTC_APPROVAL__TIMEOUT_S": "3", "PTC_LIMITS__TOOL_CALL_TIMEOUT_S": "1"}
    asked = anyio.Event()

    async def never_answers(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    changes = ListChanged()
    with anyio.fail_after(60):
        async with Client(
            _params(servers_file, env), mode="legacy", message_handler=changes, elicitation_callback=never_answers
        ) as client:
            await ready_description(client, changes)
            outcome = await _run(client, DELETE_CODE)
            assert asked.is_set()
            # Refused after [approval] timeout_s, not timed out by the (paused) 1 s call limit.
            assert outcome["stdout"] == DECLINED * 2, outcome


DENIED = (
    "refused: Call to testbox/delete_item was denied by the gateway's approval policy "
    "(approval.tools['testbox/delete_*'] = 'deny').\n"
)


@pytest.fixture
def policed_servers_file(tmp_path: Path, servers_file: Path) -> Path:
    """The test fleet with `require_approval` on testbox's read-only `whoami`."""
    document = json.loads(servers_file.read_text(encoding="utf-8"))
    document["mcpServers"]["testbox"]["require_approval"] = ["who*"]
    path = tmp_path / "policed.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


@pytest.mark.anyio
async def test_require_approval_asks_and_deny_refuses_without_asking(
    policed_servers_file: Path, gateway_env: dict[str, str]
) -> None:
    # `require_approval` on a read-only tool asks like a destructive one; `deny` never reaches the user.
    env = {**gateway_env, "PTC_APPROVAL__TOOLS": json.dumps({"testbox/delete_*": "deny"})}
    approver = Approver("accept", {"approve": True})
    changes = ListChanged()
    with anyio.fail_after(60):
        async with Client(
            _params(policed_servers_file, env), mode="legacy", message_handler=changes, elicitation_callback=approver
        ) as client:
            await ready_description(client, changes)
            asked = await _run(client, "print((await testbox.whoami())['pid'] > 0)")
            assert asked["stdout"] == "True\n", asked
            assert len(approver.messages) == 1
            assert "testbox/whoami" in approver.messages[0]
            assert "destructive" not in approver.messages[0]

            denied = await _run(client, DELETE_CODE)
            assert denied["stdout"] == DENIED * 2, denied
            assert len(approver.messages) == 1  # a denied call never asks


async def _next_message(stdout: ByteReceiveStream, buffer: bytearray) -> dict[str, Any]:
    while b"\n" not in buffer:
        buffer.extend(await stdout.receive())
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return json.loads(line)


@pytest.mark.anyio
async def test_malformed_approval_answer_is_a_refusal(servers_file: Path, gateway_env: dict[str, str]) -> None:
    # A raw client answers the elicitation with an action the protocol does not have.
    initialize: dict[str, Any] = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {"elicitation": {}},
            "clientInfo": {"name": "raw", "version": "1"},
        },
    }
    code = "try:\n    await testbox.delete_item(item_id='x')\nexcept ToolError as e:\n    print('refused:', e)"
    arguments = {"name": "execute_code", "arguments": {"code": code}}
    call: dict[str, Any] = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": arguments}
    with anyio.fail_after(60):
        async with await anyio.open_process(serve_args(servers_file), env=gateway_env) as process:
            assert process.stdin is not None and process.stdout is not None
            buffer = bytearray()

            async def send(message: dict[str, Any]) -> None:
                assert process.stdin is not None
                await process.stdin.send(json.dumps(message).encode() + b"\n")

            await send(initialize)
            while (await _next_message(process.stdout, buffer)).get("id") != 1:
                pass
            await send({"jsonrpc": "2.0", "method": "notifications/initialized"})
            while True:  # the fleet may still be starting: call until testbox answers at all
                await send(call)
                message = await _next_message(process.stdout, buffer)
                while message.get("id") != 2 and message.get("method") != "elicitation/create":
                    message = await _next_message(process.stdout, buffer)
                if message.get("method") == "elicitation/create":
                    break
                await anyio.sleep(0.2)
            await send({"jsonrpc": "2.0", "id": message["id"], "result": {"action": "maybe"}})
            while message.get("id") != 2:
                message = await _next_message(process.stdout, buffer)
            await process.stdin.aclose()
    stdout = message["result"]["structuredContent"]["stdout"]
    assert stdout.startswith("refused: "), message
    assert "declined" in stdout
