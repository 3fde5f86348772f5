"""Fuzzing `ptc-gateway serve` with malformed JSON-RPC, over stdio and over streamable HTTP.

One gateway process per transport (no upstream servers: the protocol layer is under test), and
hypothesis-generated messages: arbitrary bytes, arbitrary JSON, and JSON-RPC look-alikes with wrong
versions, ids of every type, unknown or malformed methods and params, lone surrogates. Whatever it
gets, the server must not crash or hang: after every batch a `ping` is answered, stdout carries
only JSON-RPC (stdio), no HTTP answer is a 5xx, and the process's memory stays bounded.
"""

from __future__ import annotations

import itertools
import json
import os
import select
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.server.conftest import GATEWAY

ANSWER_TIMEOUT_S = 30.0
RSS_LIMIT_MB = 400
METHODS = [
    "ping",
    "tools/list",
    "tools/call",
    "server/discover",
    "notifications/initialized",
    "notifications/cancelled",
    "resources/list",
    "logging/setLevel",
    "subscriptions/listen",
    "",
    "\ud800",
    "x" * 300,
]

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
IDS = st.none() | st.integers(min_value=-(2**70), max_value=2**70) | st.text(max_size=10) | st.floats() | JSON
PARAMS = JSON | st.fixed_dictionaries(
    {"name": st.text(max_size=12), "arguments": JSON}, optional={"_meta": JSON, "cursor": JSON}
)


@st.composite
def jsonrpc_like(draw: st.DrawFn) -> dict[str, Any]:
    message: dict[str, Any] = {}
    if draw(st.booleans()):
        message["jsonrpc"] = draw(st.sampled_from(["2.0", "1.0", "2", "", None, 2.0]))
    if draw(st.booleans()):
        message["id"] = draw(IDS)
    if draw(st.integers(0, 4)):
        message["method"] = draw(st.sampled_from(METHODS) | st.text(max_size=20) | JSON)
    if draw(st.booleans()):
        message["params"] = draw(PARAMS)
    if draw(st.integers(0, 5)) == 0:
        message[draw(st.sampled_from(["result", "error", "extra"]))] = draw(JSON)
    return message


def _encode(message: object, *, ascii_only: bool) -> bytes:
    return json.dumps(message, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


LINES = st.lists(
    st.one_of(
        st.binary(max_size=200).map(lambda data: data.replace(b"\n", b" ")),
        st.tuples(JSON, st.booleans()).map(lambda pair: _encode(pair[0], ascii_only=pair[1])),
        st.tuples(jsonrpc_like(), st.booleans()).map(lambda pair: _encode(pair[0], ascii_only=pair[1])),
    ),
    min_size=1,
    max_size=8,
)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@pytest.fixture(scope="module")
def servers_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fuzz") / "servers.json"
    path.write_text('{"mcpServers": {}}', encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    config = tmp_path_factory.mktemp("fuzz-config") / "gateway.toml"
    config.write_text("", encoding="utf-8")
    return {**{k: v for k, v in os.environ.items() if not k.startswith("PTC_")}, "PTC_CONFIG": str(config)}


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for pipe in (process.stdin, process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()


class StdioPeer:
    """Raw lines to and from `ptc-gateway serve` over stdio."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdin is not None and process.stdout is not None
        self.process = process
        self._stdin: IO[bytes] = process.stdin
        self._stdout_fd = process.stdout.fileno()
        self._buffer = b""
        self._ids = itertools.count(10**9)

    def send(self, line: bytes) -> None:
        self._stdin.write(line + b"\n")
        self._stdin.flush()

    def lines(self, deadline: float) -> Iterator[bytes]:
        while True:
            while b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                yield line
            remaining = deadline - time.monotonic()
            assert remaining > 0, "the server stopped answering"
            ready, _, _ = select.select([self._stdout_fd], [], [], remaining)
            if ready:
                chunk = os.read(self._stdout_fd, 65536)
                assert chunk, f"the server exited (status {self.process.poll()})"
                self._buffer += chunk

    def ping(self) -> None:
        """Send a ping; read (and check) every line up to its answer."""
        request_id = next(self._ids)
        self.send(json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "ping"}).encode())
        for line in self.lines(time.monotonic() + ANSWER_TIMEOUT_S):
            message = json.loads(line)  # stdout carries nothing but JSON-RPC
            assert isinstance(message, dict) and message.get("jsonrpc") == "2.0", line[:200]
            if message.get("id") == request_id:
                assert "result" in message, message
                return


@pytest.fixture(scope="module")
def stdio_peer(servers_file: Path, env: dict[str, str]) -> Iterator[StdioPeer]:
    command = [GATEWAY, "serve", "--servers", str(servers_file), "--sandbox", "local-process"]
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
    )
    try:
        peer = StdioPeer(process)
        peer.ping()
        yield peer
    finally:
        _stop(process)


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=LINES)
def test_fuzz_stdio_transport(stdio_peer: StdioPeer, lines: list[bytes]) -> None:
    for line in lines:
        stdio_peer.send(line)
    stdio_peer.ping()
    assert stdio_peer.process.poll() is None
    assert _rss_mb(stdio_peer.process.pid) < RSS_LIMIT_MB


DISCOVER_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}
HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "accept": st.sampled_from(["application/json, text/event-stream", "application/json", "*/*", "text/html", ""]),
        "content-type": st.sampled_from(["application/json", "text/plain", "application/json; charset=latin-1", ""]),
        "mcp-session-id": st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=40),
        "mcp-protocol-version": st.sampled_from(["2025-11-25", "2026-07-28", "1999-01-01", "x"]),
        "mcp-method": st.sampled_from(METHODS[:9]),
    },
)
BODIES = st.one_of(
    st.binary(max_size=300),
    JSON.map(lambda value: _encode(value, ascii_only=True)),
    jsonrpc_like().map(lambda value: _encode(value, ascii_only=False)),
    st.lists(jsonrpc_like(), max_size=3).map(lambda value: _encode(value, ascii_only=True)),
)


@pytest.fixture(scope="module")
def http_gateway_url(
    servers_file: Path, env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    command = [GATEWAY, "serve", "--servers", str(servers_file), "--sandbox", "local-process"]
    log = tmp_path_factory.mktemp("fuzz-http") / "stderr.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [*command, "--transport", "http", "--port", "0"], stdout=subprocess.DEVNULL, stderr=stderr, env=env
        )
    try:
        deadline = time.monotonic() + 60
        url = None
        while url is None:
            assert process.poll() is None, log.read_text(encoding="utf-8", errors="replace")[-2000:]
            assert time.monotonic() < deadline, "the HTTP gateway did not start"
            for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
                if "serving MCP on " in line:
                    url = line.strip().rsplit(" ", 1)[1]
            time.sleep(0.05)
        yield url, process
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def http() -> Iterator[httpx2.Client]:
    with httpx2.Client(timeout=ANSWER_TIMEOUT_S) as client:
        yield client


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=BODIES, headers=HEADERS, method=st.sampled_from(["POST", "POST", "POST", "GET", "DELETE"]))
def test_fuzz_streamable_http_transport(
    http_gateway_url: tuple[str, subprocess.Popen[bytes]],
    http: httpx2.Client,
    body: bytes,
    headers: dict[str, str],
    method: str,
) -> None:
    url, process = http_gateway_url
    if method == "GET":
        with http.stream("GET", url, headers=headers) as response:
            status = response.status_code  # an event stream is not read: only its opening matters
    else:
        response = http.request(method, url, content=body, headers=headers)
        status = response.status_code
        if response.headers.get("content-type", "").startswith("application/json") and response.content:
            json.loads(response.content)
    assert status < 500, (status, body[:200], headers)
    # Still serving: a well-formed request is answered.
    ping = http.post(
        url,
        json={"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": DISCOVER_META}},
        headers={
            "accept": "application/json, text/event-stream",
            "mcp-protocol-version": "2026-07-28",
            "mcp-method": "server/discover",
        },
    )
    assert ping.status_code == 200, ping.text[:300]
    assert process.poll() is None
    assert _rss_mb(process.pid) < RSS_LIMIT_MB
