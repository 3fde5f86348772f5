"""The connect-back channel's listener under a connection flood (no session is started: only the listener)."""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import ssl
from collections.abc import Iterator

import anyio
import pytest

from gateway.config import ExecutionLimits, SandboxSettings
from gateway.sandbox import AgentCoreSandboxBackend
from gateway.sandbox._agentcore_connect import MAX_PENDING_CONNECTIONS
from tests.agentcore.endpoint import Endpoint

pytestmark = pytest.mark.anyio


@contextlib.contextmanager
def _out_of_descriptors() -> Iterator[None]:
    """Until the block ends, every new file descriptor fails with EMFILE (the soft limit is the lowest free one)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowest_free = os.dup(0)
    os.close(lowest_free)
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowest_free, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def test_running_out_of_descriptors_does_not_stop_the_listener(agentcore: Endpoint) -> None:
    settings = SandboxSettings(backend="agentcore", pool_size=0, agentcore={"channel": "connect-back"})
    async with AgentCoreSandboxBackend(settings, ExecutionLimits()) as backend:
        listener = backend.connect_back
        assert listener is not None
        flood = [socket.create_connection((listener.address, listener.port)) for _ in range(8)]
        try:
            with _out_of_descriptors(), anyio.fail_after(10):
                while listener.accept_failures == 0:  # noqa: ASYNC110 - a counter, no event to wait on
                    await anyio.sleep(0.01)
        finally:
            for sock in flood:
                sock.close()
        connection = listener.expect(30)  # the listener still serves: a runner with a good token gets through
        context = ssl.create_default_context(cadata=listener.ca_pem)
        with anyio.fail_after(30):
            stream = await anyio.connect_tcp(
                listener.address, listener.port, ssl_context=context, tls_standard_compatible=False
            )
            await stream.send(b"PTC-CONNECT 1 " + connection.token.encode() + b"\n")
            await connection.connected.wait()
        assert connection.stream is not None  # what a sandbox would own, and close
        await connection.stream.aclose()
        connection.done.set()
        await stream.aclose()
        # Connections that never present a token are held up to MAX_PENDING_CONNECTIONS; the rest closed at once.
        refused = listener.refused
        idle = [socket.create_connection((listener.address, listener.port)) for _ in range(MAX_PENDING_CONNECTIONS + 3)]
        try:
            with anyio.fail_after(10):
                while listener.refused < refused + 3:  # noqa: ASYNC110 - a counter, no event to wait on
                    await anyio.sleep(0.01)
        finally:
            for sock in idle:
                sock.close()
