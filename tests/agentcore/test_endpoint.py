"""The local endpoint speaks the AgentCore data-plane wire protocol to plain boto3, and runs things for real."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError

from tests.agentcore.endpoint import Endpoint, iter_stream

CI = "aws.codeinterpreter.v1"


@pytest.fixture
def c(agentcore: Endpoint) -> Iterator[Any]:
    """A plain boto3 client without retries (so each fault shows)."""
    made = boto3.client("bedrock-agentcore", config=Config(retries={"total_max_attempts": 1}))
    yield made
    made.close()


def invoke(c: Any, session: str, name: str, **arguments: Any) -> dict[str, Any]:
    response = c.invoke_code_interpreter(
        codeInterpreterIdentifier=CI, sessionId=session, name=name, arguments=arguments
    )
    assert response["sessionId"] == session  # echoed in the response header
    (result,) = list(iter_stream(response))
    return result


def test_tools_run_in_a_session_without_network(agentcore: Endpoint, c: Any) -> None:
    session = c.start_code_interpreter_session(codeInterpreterIdentifier=CI, sessionTimeoutSeconds=120)["sessionId"]
    try:
        done = invoke(c, session, "executeCommand", command="echo out; echo err >&2; exit 3")
        assert done["isError"] is True
        assert done["structuredContent"]["stdout"] == "out\n"
        assert done["structuredContent"]["stderr"] == "err\n"
        assert done["structuredContent"]["exitCode"] == 3

        code = (
            "import socket\ntry:\n    socket.create_connection(('1.1.1.1', 53), 2)\nexcept OSError:\n    print('none')"  # noqa: E501
        )
        ran = invoke(c, session, "executeCode", code=code, language="python")
        assert ran["structuredContent"]["stdout"] == "none\n"

        files = [{"path": "d/a.txt", "text": "hé"}, {"path": "b.bin", "blob": b"\x00\xff"}]
        invoke(c, session, "writeFiles", content=files)
        read = invoke(c, session, "readFiles", paths=["d/a.txt", "b.bin"])
        blobs = [block["resource"]["blob"] for block in read["content"]]
        assert blobs == ["hé".encode(), b"\x00\xff"]  # bytes in boto3, base64 only on the wire
        listed = invoke(c, session, "listFiles", directoryPath=".")
        assert sorted(block["name"] for block in listed["content"]) == ["b.bin", "d"]
        invoke(c, session, "removeFiles", paths=["b.bin"])
        assert [block["name"] for block in invoke(c, session, "listFiles", directoryPath=".")["content"]] == ["d"]
        escape = invoke(c, session, "readFiles", paths=["../etc/passwd"])
        assert escape["isError"] is True

        task = invoke(c, session, "startCommandExecution", command="sleep 60")["structuredContent"]["taskId"]
        assert invoke(c, session, "getTask", taskId=task)["structuredContent"]["taskStatus"] == "working"
        assert invoke(c, session, "stopTask", taskId=task)["structuredContent"]["taskStatus"] == "canceled"
        finished = invoke(c, session, "startCommandExecution", command="echo done")["structuredContent"]["taskId"]
        for _ in range(100):
            state = invoke(c, session, "getTask", taskId=finished)["structuredContent"]
            if state["taskStatus"] != "working":
                break
        assert state["taskStatus"] == "completed" and state["stdout"] == "done\n"

        got = c.get_code_interpreter_session(codeInterpreterIdentifier=CI, sessionId=session)
        assert got["status"] == "READY" and got["sessionTimeoutSeconds"] == 120
    finally:
        c.stop_code_interpreter_session(codeInterpreterIdentifier=CI, sessionId=session)
    assert c.get_code_interpreter_session(codeInterpreterIdentifier=CI, sessionId=session)["status"] == "TERMINATED"
    assert agentcore.count("sessions/stop") == 1


def test_error_shapes_and_faults(agentcore: Endpoint, c: Any) -> None:
    with pytest.raises(ClientError) as unknown:
        c.get_code_interpreter_session(codeInterpreterIdentifier=CI, sessionId="nosuchsession")
    assert unknown.value.response["Error"]["Code"] == "ResourceNotFoundException"

    agentcore.faults.throttle_calls = 1
    with pytest.raises(ClientError) as throttled:
        c.start_code_interpreter_session(codeInterpreterIdentifier=CI)
    assert throttled.value.response["Error"]["Code"] == "ThrottlingException"
    assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429

    token = "t" * 40
    session = c.start_code_interpreter_session(codeInterpreterIdentifier=CI, clientToken=token)["sessionId"]
    again = c.start_code_interpreter_session(codeInterpreterIdentifier=CI, clientToken=token)["sessionId"]
    assert again == session  # the client token makes a retried start idempotent
    try:
        with pytest.raises(ClientError) as no_session:
            c.invoke_code_interpreter(codeInterpreterIdentifier=CI, name="executeCommand", arguments={"command": "1"})
        assert no_session.value.response["Error"]["Code"] == "ValidationException"

        agentcore.faults.throttle_streams = 1
        response = c.invoke_code_interpreter(
            codeInterpreterIdentifier=CI, sessionId=session, name="executeCommand", arguments={"command": "true"}
        )
        with pytest.raises(EventStreamError) as mid_stream:
            list(response["stream"])
        response["stream"].close()
        assert mid_stream.value.response["Error"]["Code"] == "throttlingException"  # lower camel

        agentcore.lose_session(session)
        with pytest.raises(ClientError) as lost:
            invoke(c, session, "executeCommand", command="true")
        assert lost.value.response["Error"]["Code"] == "ResourceNotFoundException"
    finally:
        if session in agentcore.live_sessions():
            c.stop_code_interpreter_session(codeInterpreterIdentifier=CI, sessionId=session)
