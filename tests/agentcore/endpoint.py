"""A local Amazon Bedrock AgentCore Code Interpreter data-plane endpoint that really runs code.

It speaks the `bedrock-agentcore` wire protocol exactly as botocore's service model describes it,
so boto3 runs for real against it (SigV4 signing, rest-json serialisation, error parsing, the
event-stream response of `InvokeCodeInterpreter`):

- `PUT  /code-interpreters/{id}/sessions/start`   JSON in/out (`clientToken` makes it idempotent)
- `POST /code-interpreters/{id}/tools/invoke`     JSON in (session id in the
  `x-amzn-code-interpreter-session-id` header); out: an AWS event stream of `result` events whose
  `structuredContent` holds stdout / stderr / exitCode / taskId / taskStatus, or exception events
  (`throttlingException`, ...) mid-stream
- `PUT  /code-interpreters/{id}/sessions/stop?sessionId=`  and  `GET .../sessions/get?sessionId=`
- errors: HTTP status + `x-amzn-ErrorType` + `{"message": ...}` (ValidationException adds `reason`)

Each session is a local hardened Docker container (the shared sandbox image, no network at all:
the SANDBOX network mode of the real service; the `test-public` code interpreter's sessions get the
host's network instead, standing in for PUBLIC mode, read-only root, tmpfs working directory, no
capabilities, non-root, pids/memory caps). The tools really run there through `docker exec`:
`executeCode` (Python, a fresh interpreter per call: the real service keeps interpreter state
between calls; nothing here relies on it), `executeCommand`, `startCommandExecution` / `getTask`
/ `stopTask` (background tasks in their own process group), `writeFiles` / `readFiles` /
`listFiles` / `removeFiles` (paths under the working directory). `sessionTimeoutSeconds` is a
lifetime: a session older than it is terminated.

Fault switches (`Faults`): throttle the next n calls (HTTP 429 `ThrottlingException`, a
`ClientError`), throttle the next n streams (a `throttlingException` event mid-stream, an
`EventStreamError`), drop the next n streams mid-way (a chunk announced and cut), lose a session
(its container dies and its id becomes unknown), send a result event of the wrong shape. Each can be limited
to one tool name.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import secrets
import socket
import threading
import time
import urllib.parse
import uuid
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import docker

from tests.bedrock.eventstream import encode_event, encode_exception

__all__ = ["DEFAULT_IMAGE", "PUBLIC_CODE_INTERPRETER", "Endpoint", "Faults", "run_endpoint"]

DEFAULT_IMAGE = os.environ.get("PTC_TEST_IMAGE", "ptc-sandbox:latest")
PUBLIC_CODE_INTERPRETER = "test-public"
"""A code interpreter in PUBLIC network mode: its sessions get network (the host's, here). Any other
`test-*` id and `aws.codeinterpreter.v1` are in SANDBOX mode: no network at all."""
WORKDIR = "/work"
USER = "65532:65532"
LABEL_OWNER = "ptc-gateway.owner"
LABEL_PID = "ptc-gateway.pid"
LABEL_HOST = "ptc-gateway.host"
DEFAULT_SESSION_TIMEOUT_S = 900
MAX_COMMAND_S = 900.0
MAX_TASK_OUTPUT_BYTES = 64 * 1024
_ROUTE = re.compile(
    r"^/code-interpreters/(?P<ci>[^/]+)/(?P<action>sessions/start|sessions/stop|sessions/get|sessions/list|tools/invoke)$"
)
_SESSION_ID = re.compile(r"^[0-9a-zA-Z]{1,40}$")
_INVALID = "FieldValidationFailed"
_TOOLS = (
    "executeCode",
    "executeCommand",
    "readFiles",
    "listFiles",
    "removeFiles",
    "writeFiles",
    "startCommandExecution",
    "getTask",
    "stopTask",
)

# Helper programs run inside the session container (stdin: a JSON request; stdout: a JSON answer).
_FILES_HELPER = r"""
import base64, json, os, sys
req = json.load(sys.stdin)
root = os.path.realpath(__WORKDIR__)
def resolve(path):
    full = os.path.realpath(os.path.join(root, path))
    if full != root and not full.startswith(root + "/"):
        raise ValueError("path outside the working directory: " + path)
    return full
out = []
try:
    op = req["op"]
    if op == "write":
        for item in req["content"]:
            full = resolve(item["path"])
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "wb") as f:
                f.write(base64.b64decode(item["data"]))
            out.append({"path": item["path"], "size": os.path.getsize(full)})
    elif op == "read":
        for path in req["paths"]:
            with open(resolve(path), "rb") as f:
                out.append({"path": path, "data": base64.b64encode(f.read()).decode()})
    elif op == "list":
        base = resolve(req["path"] or ".")
        for name in sorted(os.listdir(base)):
            full = os.path.join(base, name)
            out.append({"name": name, "path": os.path.relpath(full, root), "dir": os.path.isdir(full),
                        "size": os.path.getsize(full)})
    elif op == "remove":
        for path in req["paths"]:
            os.remove(resolve(path))
            out.append({"path": path})
except (OSError, ValueError, KeyError) as e:
    print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
    sys.exit(1)
print(json.dumps({"items": out}))
""".replace("__WORKDIR__", repr(WORKDIR))

_TASK_DIR = "/tmp/.ci-tasks"
# Starts a background command in a process group of its own; records its pid, output and exit code.
_TASK_LAUNCHER = r"""
import os, subprocess, sys
task, command = sys.argv[1], sys.argv[2]
d = __DIR__
os.makedirs(d, exist_ok=True)
if os.fork():
    os._exit(0)
os.setsid()
null = os.open(os.devnull, os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(null, fd)  # the exec that started us returns at once
with open(f"{d}/{task}.out", "wb") as out, open(f"{d}/{task}.err", "wb") as err:
    proc = subprocess.Popen(["sh", "-c", command], stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    with open(f"{d}/{task}.pid", "w") as f:
        f.write(str(os.getpid()))
    code = proc.wait()
with open(f"{d}/{task}.exit.tmp", "w") as f:
    f.write(str(code))
os.rename(f"{d}/{task}.exit.tmp", f"{d}/{task}.exit")
""".replace("__DIR__", repr(_TASK_DIR))

_TASK_STATUS = r"""
import json, os, signal, sys
d, task, stop, cap = __DIR__, sys.argv[1], sys.argv[2] == "stop", int(sys.argv[3])
def tail(name):
    try:
        with open(f"{d}/{task}.{name}", "rb") as f:
            return f.read()[-cap:].decode("utf-8", "replace")
    except OSError:
        return ""
if not os.path.exists(f"{d}/{task}.pid"):
    print(json.dumps({"status": "unknown"}))
    sys.exit(0)
if os.path.exists(f"{d}/{task}.canceled"):
    print(json.dumps({"status": "canceled", "stdout": tail("out"), "stderr": tail("err")}))
    sys.exit(0)
if stop and not os.path.exists(f"{d}/{task}.exit"):
    open(f"{d}/{task}.canceled", "w").close()
    try:
        os.killpg(int(open(f"{d}/{task}.pid").read()), signal.SIGKILL)
    except (OSError, ValueError):
        pass
    print(json.dumps({"status": "canceled", "stdout": tail("out"), "stderr": tail("err")}))
    sys.exit(0)
code = tail("exit")
print(json.dumps({"status": "done" if code else "working", "exit": int(code) if code else None,
                  "stdout": tail("out"), "stderr": tail("err")}))
""".replace("__DIR__", repr(_TASK_DIR))


class ApiError(Exception):
    """An error answered before the stream starts (a `ClientError` in boto3)."""

    def __init__(self, status: int, error_type: str, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.reason = reason


@dataclass
class Faults:
    """Switches the tests flip; each counter is consumed by the next matching request."""

    throttle_calls: int = 0
    """Next n requests (of `tool`, or any) fail with HTTP 429 before the stream starts."""
    throttle_streams: int = 0
    """Next n invocations (of `tool`) send a `throttlingException` event instead of their result."""
    drop_streams: int = 0
    """Next n invocations (of `tool`) announce a chunk, send part of it and cut the connection."""
    malformed_streams: int = 0
    """Next n invocations (of `tool`) send a `result` event whose `structuredContent` is a list, not an object."""
    tool: str | None = None
    """Limit the switches to invocations of this tool (None: every request)."""

    def take(self, name: str, kind: str, tool: str | None) -> bool:
        if self.tool is not None and tool != self.tool:
            return False
        left: int = getattr(self, name)
        if left <= 0 or (kind == "api" and name != "throttle_calls"):
            return False
        setattr(self, name, left - 1)
        return True


@dataclass
class Session:
    """One code-interpreter session: a container and its bookkeeping."""

    id: str
    container: str
    created: float
    timeout_s: int
    name: str | None
    client_token: str | None
    status: str = "READY"
    tasks: set[str] = field(default_factory=set[str])


class Endpoint:
    """The endpoint's state: sessions, faults and counters (read by tests)."""

    def __init__(self, *, image: str = DEFAULT_IMAGE, memory_mb: int = 256) -> None:
        self.image = image
        self.memory_mb = memory_mb
        self.url = ""
        self.owner = f"agentcore-endpoint-{uuid.uuid4().hex}"
        self.faults = Faults()
        self.calls: list[tuple[str, str]] = []
        """(operation, tool name or "") of every request, in arrival order."""
        self.sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._api = docker.APIClient(base_url="unix:///var/run/docker.sock", timeout=MAX_COMMAND_S, max_pool_size=64)

    # ---- what tests use -------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """Environment that points boto3 at this endpoint."""
        return {
            "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE": self.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def live_sessions(self) -> list[str]:
        """Ids of sessions not stopped (what a leak would leave)."""
        with self._lock:
            return [s.id for s in self.sessions.values() if s.status == "READY"]

    def count(self, operation: str, tool: str = "") -> int:
        """How many requests of this operation (and tool) arrived."""
        with self._lock:
            return sum(1 for op, name in self.calls if op == operation and (not tool or name == tool))

    def lose_session(self, session_id: str) -> None:
        """The service loses the session: its container dies and its id becomes unknown."""
        with self._lock:
            session = self.sessions.pop(session_id, None)
        if session is not None:
            self._remove(session.container)

    def close(self) -> None:
        """Remove every container this endpoint created."""
        with self._lock:
            sessions = list(self.sessions.values())
            self.sessions.clear()
        for session in sessions:
            self._remove(session.container)
        for container in self._api.containers(all=True, filters={"label": f"{LABEL_OWNER}={self.owner}"}):
            self._remove(container["Id"])
        self._api.close()

    # ---- sessions ---------------------------------------------------------------------------
    def start_session(self, body: dict[str, Any], ci: str = "aws.codeinterpreter.v1") -> Session:
        token = body.get("clientToken")
        timeout_s = body.get("sessionTimeoutSeconds", DEFAULT_SESSION_TIMEOUT_S)
        if not isinstance(timeout_s, int) or not 1 <= timeout_s <= 28800:
            raise ApiError(400, "ValidationException", "sessionTimeoutSeconds must be 1..28800", _INVALID)
        with self._lock:
            for session in self.sessions.values():
                if token and session.client_token == token:
                    return session
        mb = 1024 * 1024
        public = ci == PUBLIC_CODE_INTERPRETER
        host_config = self._api.create_host_config(
            # PUBLIC mode: the host's network (the tests' gateway listens on its loopback). SANDBOX: none.
            network_mode="host" if public else "none",
            read_only=True,
            tmpfs={"/tmp": "rw,noexec,nosuid,nodev,size=16m,mode=1777", WORKDIR: "rw,nosuid,nodev,size=64m,mode=1777"},
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            pids_limit=128,
            mem_limit=self.memory_mb * mb,
            memswap_limit=self.memory_mb * mb,
            nano_cpus=int(1e9),
            init=True,
            log_config={"type": "none", "config": {}},
        )
        created = self._api.create_container(
            self.image,
            command=["sleep", "infinity"],
            user=USER,
            working_dir=WORKDIR,
            environment={},
            network_disabled=not public,
            labels={LABEL_OWNER: self.owner, LABEL_PID: str(os.getpid()), LABEL_HOST: socket.gethostname()},
            host_config=host_config,
        )
        self._api.start(created["Id"])
        session = Session(
            id=secrets.token_hex(13),
            container=created["Id"],
            created=time.time(),
            timeout_s=timeout_s,
            name=body.get("name"),
            client_token=token,
        )
        with self._lock:
            self.sessions[session.id] = session
        return session

    def list_sessions(self, ci: str, body: dict[str, Any]) -> dict[str, Any]:
        """One page of `ListCodeInterpreterSessions` (the token is the next index)."""
        size = body.get("maxResults", 10)
        start = int(body.get("nextToken") or 0)
        with self._lock:
            chosen = [s for s in self.sessions.values() if body.get("status") in (None, s.status)]
        page = chosen[start : start + size]
        items = [
            {
                "codeInterpreterIdentifier": ci,
                "sessionId": s.id,
                "status": s.status,
                "createdAt": _timestamp(s.created),
                "lastUpdatedAt": _timestamp(s.created),
                **({"name": s.name} if s.name else {}),
            }
            for s in page
        ]
        answer: dict[str, Any] = {"items": items}
        if start + size < len(chosen):
            answer["nextToken"] = str(start + size)
        return answer

    def session(self, session_id: str | None) -> Session:
        if not session_id:
            raise ApiError(400, "ValidationException", "a session id is required", _INVALID)
        if not _SESSION_ID.match(session_id):
            raise ApiError(400, "ValidationException", "sessionId must match [0-9a-zA-Z]{1,40}", _INVALID)
        with self._lock:
            session = self.sessions.get(session_id)
        if session is None:
            raise ApiError(404, "ResourceNotFoundException", f"session {session_id} not found")
        if session.status == "READY" and time.time() - session.created > session.timeout_s:
            self.stop_session(session)  # sessionTimeoutSeconds is a lifetime
        return session

    def stop_session(self, session: Session) -> None:
        with self._lock:
            if session.status == "TERMINATED":
                return
            session.status = "TERMINATED"
        self._remove(session.container)

    def _remove(self, container: str) -> None:
        try:
            self._api.remove_container(container, v=True, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as e:
            if "already in progress" not in str(e):
                raise

    # ---- running things in a session --------------------------------------------------------
    def exec(self, session: Session, command: list[str], stdin: bytes = b"") -> tuple[int, bytes, bytes]:
        """Run `command` in the session's container; (exit code, stdout, stderr)."""
        try:
            exec_id = self._api.exec_create(
                session.container, command, stdin=True, stdout=True, stderr=True, user=USER, workdir=WORKDIR
            )["Id"]
            attached = self._api.exec_start(exec_id, socket=True)
        except docker.errors.APIError as e:
            raise ApiError(404, "ResourceNotFoundException", f"session {session.id} is gone ({e})") from e
        sock: socket.socket = getattr(attached, "_sock", attached)
        out, err = bytearray(), bytearray()
        try:
            sock.settimeout(MAX_COMMAND_S)
            if stdin:
                sock.sendall(stdin)
            sock.shutdown(socket.SHUT_WR)
            buffer = bytearray()
            while chunk := sock.recv(1 << 16):
                buffer += chunk
            while len(buffer) >= 8:
                size = int.from_bytes(buffer[4:8], "big")
                (out if buffer[0] == 1 else err).extend(buffer[8 : 8 + size])
                del buffer[: 8 + size]
        except OSError:
            if not self._lost(session):
                raise
        finally:
            attached.close()
            sock.close()
        if self._lost(session):
            # Lost while the command ran (`lose_session`): the service answers for the session, not for
            # whatever the dying container made of the command (exec's "cannot exec in a stopped state").
            raise ApiError(404, "ResourceNotFoundException", f"session {session.id} is gone")
        try:
            code = self._api.exec_inspect(exec_id).get("ExitCode")
        except docker.errors.APIError:
            code = None
        return (code if isinstance(code, int) else 137), bytes(out), bytes(err)

    def _lost(self, session: Session) -> bool:
        with self._lock:
            return session.id not in self.sessions

    def _files(self, session: Session, request: dict[str, Any]) -> dict[str, Any]:
        code, out, err = self.exec(session, ["python3", "-I", "-c", _FILES_HELPER], json.dumps(request).encode())
        try:
            answer: dict[str, Any] = json.loads(out)
        except ValueError:
            answer = {"error": (err or out).decode("utf-8", "replace")[-2000:] or f"exit code {code}"}
        return answer

    def invoke(self, session: Session, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Run one tool; returns the `CodeInterpreterResult` event's members."""
        began = time.monotonic()
        if name in ("executeCode", "executeCommand"):
            if name == "executeCode":
                if arguments.get("language", "python") != "python":
                    raise ApiError(400, "ValidationException", "this endpoint runs python only", _INVALID)
                command = ["python3", "-c", _required(arguments, "code")]
            else:
                command = ["sh", "-c", _required(arguments, "command")]
            code, out, err = self.exec(session, command)
            stdout, stderr = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
            return _result(
                stdout or stderr,
                {"stdout": stdout, "stderr": stderr, "exitCode": code, "executionTime": time.monotonic() - began},
                is_error=code != 0,
            )
        if name == "startCommandExecution":
            task = uuid.uuid4().hex
            command = _required(arguments, "command")
            code, _, err = self.exec(session, ["python3", "-I", "-c", _TASK_LAUNCHER, task, command])
            if code != 0:
                return _result(err.decode("utf-8", "replace"), {"taskId": task, "taskStatus": "failed"}, is_error=True)
            session.tasks.add(task)
            return _result(f"task {task} started", {"taskId": task, "taskStatus": "working"})
        if name in ("getTask", "stopTask"):
            task = _required(arguments, "taskId")
            if task not in session.tasks:
                raise ApiError(404, "ResourceNotFoundException", f"task {task} not found")
            stop = "stop" if name == "stopTask" else "get"
            cap = str(MAX_TASK_OUTPUT_BYTES)
            _, out, _ = self.exec(session, ["python3", "-I", "-c", _TASK_STATUS, task, stop, cap])
            state = json.loads(out)
            status = {"working": "working", "canceled": "canceled"}.get(state["status"], "completed")
            if state["status"] == "done" and state["exit"] != 0:
                status = "failed"
            structured: dict[str, Any] = {"taskId": task, "taskStatus": status, "stdout": state.get("stdout", "")}
            structured["stderr"] = state.get("stderr", "")
            if state.get("exit") is not None:
                structured["exitCode"] = state["exit"]
            return _result(f"task {task}: {status}", structured, is_error=status == "failed")
        if name == "writeFiles":
            content = arguments.get("content") or []
            items = []
            for block in content:
                if "blob" in block:
                    data = block["blob"]  # base64 on the wire already
                else:
                    data = base64.b64encode(str(block.get("text", "")).encode()).decode()
                items.append({"path": block["path"], "data": data})
            answer = self._files(session, {"op": "write", "content": items})
            if "error" in answer:
                return _result(answer["error"], {}, is_error=True)
            return _result(f"wrote {len(items)} file(s)", {})
        if name in ("readFiles", "removeFiles"):
            paths = arguments.get("paths") or ([arguments["path"]] if arguments.get("path") else [])
            answer = self._files(session, {"op": "read" if name == "readFiles" else "remove", "paths": paths})
            if "error" in answer:
                return _result(answer["error"], {}, is_error=True)
            if name == "removeFiles":
                return _result(f"removed {len(paths)} file(s)", {})
            blocks = [
                {
                    "type": "resource",
                    "resource": {"type": "blob", "uri": f"file://{item['path']}", "blob": item["data"]},
                }  # noqa: E501
                for item in answer["items"]
            ]
            return {"content": blocks, "structuredContent": {}, "isError": False}
        if name == "listFiles":
            answer = self._files(session, {"op": "list", "path": arguments.get("directoryPath") or "."})
            if "error" in answer:
                return _result(answer["error"], {}, is_error=True)
            blocks = [
                {
                    "type": "resource_link",
                    "name": item["name"],
                    "uri": f"file://{item['path']}",
                    "size": item["size"],
                    "description": "directory" if item["dir"] else "file",
                }
                for item in answer["items"]
            ]
            return {"content": blocks, "structuredContent": {}, "isError": False}
        raise ApiError(400, "ValidationException", f"unknown tool {name!r}", _INVALID)


def _required(arguments: dict[str, Any], key: str) -> str:
    value = arguments.get(key)
    if not isinstance(value, str):
        raise ApiError(400, "ValidationException", f"arguments.{key} is required", _INVALID)
    return value


def _result(text: str, structured: dict[str, Any], *, is_error: bool = False) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}], "structuredContent": structured, "isError": is_error}


def _timestamp(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat().replace("+00:00", "Z")


def _handler(endpoint: Endpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass

        def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _error(self, error: ApiError) -> None:
            payload: dict[str, Any] = {"message": str(error)}
            if error.reason:
                payload["reason"] = error.reason
            self._json(error.status, payload, {"x-amzn-ErrorType": error.error_type})

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b"{}"
            try:
                body = json.loads(raw or b"{}")
            except ValueError as e:
                raise ApiError(400, "ValidationException", f"malformed JSON: {e}", "CannotParse") from e
            if not isinstance(body, dict):
                raise ApiError(400, "ValidationException", "the body must be an object", "CannotParse")
            return body

        def do_PUT(self) -> None:
            self._route("PUT")

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

        def _route(self, method: str) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
            match = _ROUTE.match(url.path)
            expected = {
                "sessions/start": "PUT",
                "sessions/stop": "PUT",
                "sessions/get": "GET",
                "sessions/list": "POST",
                "tools/invoke": "POST",
            }
            try:
                if match is None or expected[match["action"]] != method:
                    raise ApiError(404, "UnknownOperationException", f"no route for {method} {url.path}")
                ci = urllib.parse.unquote(match["ci"])
                action = match["action"]
                body = self._body() if method != "GET" else {}
                tool = str(body.get("name", "")) if action == "tools/invoke" else ""
                with endpoint._lock:  # noqa: SLF001 - the handler is part of the endpoint
                    endpoint.calls.append((action, tool))
                if endpoint.faults.take("throttle_calls", "api", tool or None):
                    raise ApiError(429, "ThrottlingException", "Rate exceeded")
                if ci != "aws.codeinterpreter.v1" and not ci.startswith("test-"):
                    raise ApiError(404, "ResourceNotFoundException", f"code interpreter {ci} not found")
                match action:
                    case "sessions/start":
                        session = endpoint.start_session(body, ci)
                        created = _timestamp(session.created)
                        self._json(
                            200, {"codeInterpreterIdentifier": ci, "sessionId": session.id, "createdAt": created}
                        )
                    case "sessions/stop":
                        session = endpoint.session((query.get("sessionId") or [""])[0])
                        endpoint.stop_session(session)
                        updated = _timestamp(time.time())
                        self._json(
                            200, {"codeInterpreterIdentifier": ci, "sessionId": session.id, "lastUpdatedAt": updated}
                        )
                    case "sessions/get":
                        session = endpoint.session((query.get("sessionId") or [""])[0])
                        payload: dict[str, Any] = {
                            "codeInterpreterIdentifier": ci,
                            "sessionId": session.id,
                            "createdAt": _timestamp(session.created),
                            "sessionTimeoutSeconds": session.timeout_s,
                            "status": session.status,
                        }
                        if session.name:
                            payload["name"] = session.name
                        self._json(200, payload)
                    case "sessions/list":
                        self._json(200, endpoint.list_sessions(ci, body))
                    case _:
                        self._invoke(body)
            except ApiError as e:
                self._error(e)

        def _invoke(self, body: dict[str, Any]) -> None:
            name = body.get("name")
            if name not in _TOOLS:
                raise ApiError(400, "ValidationException", "name must be one of " + ", ".join(_TOOLS), _INVALID)
            session = endpoint.session(self.headers.get("x-amzn-code-interpreter-session-id"))
            if session.status != "READY":
                raise ApiError(404, "ResourceNotFoundException", f"session {session.id} is terminated")
            arguments = body.get("arguments") or {}
            # The response starts before the tool finishes: the wait happens while the client reads.
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.amazon.eventstream")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("x-amzn-code-interpreter-session-id", session.id)
            self.end_headers()
            self.wfile.flush()
            try:
                result = endpoint.invoke(session, name, arguments)
                event = encode_event("result", result)
            except ApiError as e:
                event = encode_exception(e.error_type[0].lower() + e.error_type[1:], str(e))
            if endpoint.faults.take("drop_streams", "stream", name):
                self.wfile.write(f"{len(event):x}\r\n".encode() + event[: len(event) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if endpoint.faults.take("throttle_streams", "stream", name):
                event = encode_exception("throttlingException", "Rate exceeded")
            if endpoint.faults.take("malformed_streams", "stream", name):
                event = encode_event("result", {"content": [], "structuredContent": ["not", "an", "object"]})
            self.wfile.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    return Handler


def _sessions_reaper(endpoint: Endpoint, stop: threading.Event) -> None:
    """Terminate sessions past their lifetime (as the service does), once a second."""
    while not stop.wait(1.0):
        with endpoint._lock:  # noqa: SLF001 - part of the endpoint
            now = time.time()
            expired = [s for s in endpoint.sessions.values() if s.status == "READY" and now - s.created > s.timeout_s]
        for session in expired:
            endpoint.stop_session(session)


@contextmanager
def run_endpoint(*, image: str = DEFAULT_IMAGE) -> Generator[Endpoint]:
    """Serve on 127.0.0.1 (a free port) in a thread for the duration of the block; remove its containers after."""
    endpoint = Endpoint(image=image)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(endpoint))
    server.daemon_threads = True
    endpoint.url = f"http://127.0.0.1:{server.server_address[1]}"
    stop = threading.Event()
    threads = [
        threading.Thread(target=server.serve_forever, args=(0.05,), name="agentcore-endpoint", daemon=True),
        threading.Thread(target=_sessions_reaper, args=(endpoint, stop), name="agentcore-reaper", daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        yield endpoint
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        for thread in threads:
            thread.join(timeout=5)
        endpoint.close()


def iter_stream(response: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The `result` events of a boto3 `invoke_code_interpreter` response."""
    for event in response["stream"]:
        if "result" in event:
            yield event["result"]
